import type { AsyncRabbitMQ } from '../../../src/client/async-rabbitmq.js';
import { type ConsumeOptions, consume } from '../../../src/client/consumer.js';
import { sleep, waitFor } from '../../helpers/wait.js';

/**
 * Consumes `queue` with a handler that nacks every message with requeue (a poison message that never
 * succeeds), counting the handler's calls and collecting what the consumer reports.
 */
export async function requeueForever(mq: AsyncRabbitMQ, queue: string, options: ConsumeOptions<Buffer> = {}) {
  const seen = { calls: 0, errors: [] as unknown[] };
  const consumer = await consume(
    mq,
    queue,
    (m) => {
      seen.calls++;
      m.nack({ requeue: true });
    },
    { manual: true, ...options },
  );
  consumer.on('error', (e) => seen.errors.push(e));
  return { consumer, seen };
}

/** Waits for the consumer's first report (the delivery limit), lets the settle go out, stops it. */
export async function stopAfterReport(consumer: { stop(): Promise<void> }, seen: { errors: unknown[] }): Promise<void> {
  await waitFor(() => seen.errors.length > 0, 'the delivery-limit report');
  await sleep(200);
  await consumer.stop();
}
