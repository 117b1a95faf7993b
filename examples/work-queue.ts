/**
 * A work queue: two workers share one durable queue; a job that throws is retried by the broker after a
 * delay (never an immediate requeue loop), and one that keeps failing ends in `<queue>.dead`.
 *
 *   npx tsx examples/work-queue.ts          (RABBITMQ_URL, or the local broker)
 */
import { randomBytes } from 'node:crypto';
import { AsyncRabbitMQ, defineConfig } from 'warren';

const queue = `example.jobs.${randomBytes(3).toString('hex')}`;
const mq = new AsyncRabbitMQ(defineConfig({ queues: [{ name: queue, arguments: { 'x-queue-type': 'quorum' } }] }));
await mq.connect();

const done = new Map<string, number>();
let deadLettered = 0;
const worker = (name: string) =>
  mq.consume<{ n: number }>(
    queue,
    async (msg) => {
      if (msg.value.n === 7 && msg.attempt === 1) throw new Error('flaky downstream'); // retried once, then ok
      if (msg.value.n === 13) throw new Error('poison job'); // dead-lettered after 3 attempts
      done.set(name, (done.get(name) ?? 0) + 1);
    },
    { json: true, prefetch: 5, retry: { attempts: 3, delayMs: 200 } },
  );
const workers = [await worker('worker-1'), await worker('worker-2')];
for (const w of workers) w.on('error', () => {}); // failures are expected here
// deadLetter: false, or this consumer would get a `<queue>.dead.dead` of its own.
const dead = await mq.consume(
  `${queue}.dead`,
  () => {
    deadLettered++;
  },
  { deadLetter: false },
);

for (let n = 1; n <= 20; n++) await mq.publishMessage(queue, { n }); // each resolves on the broker's confirm

const total = () => [...done.values()].reduce((a, b) => a + b, 0);
const deadline = Date.now() + 10_000;
while ((total() < 19 || deadLettered < 1) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
console.log(
  `done: ${total()} jobs (${[...done].map(([w, n]) => `${w} ${n}`).join(', ')}), dead-lettered: ${deadLettered}`,
);

for (const c of [...workers, dead]) await c.stop();
const ch = await mq.getChannel();
for (const q of [queue, `${queue}.retry.200`, `${queue}.dead`]) await ch.queueDelete({ queue: q });
await ch.exchangeDelete({ exchange: `${queue}.dead` });
await mq.disconnect();
