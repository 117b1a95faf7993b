/**
 * `npm run demo`: the main job against the local broker (or RABBITMQ_URL).
 *
 * Declares a small topology from config, publishes confirmed messages of each body kind, reads them
 * back, shows what the broker said about itself, and disconnects cleanly.
 */
import { AsyncRabbitMQ, ExchangeType, redactUrl, UnroutableError } from '../src/index.js';

const suffix = `${process.pid}`;
const exchange = `warren.demo.${suffix}`;
const queue = `warren.demo.orders.${suffix}`;

const mq = new AsyncRabbitMQ(
  {
    exchanges: [{ name: exchange, type: ExchangeType.TOPIC, durable: false, autoDelete: true }],
    queues: [{ name: queue, exchange, routingKey: 'order.*' }],
  },
  { connectionName: 'warren demo', connectionTimeout: 5000, connectRetry: { attempts: 3 } },
);

async function main(): Promise<void> {
  console.log(`connecting to ${mq.settings.urls.map(redactUrl).join(', ')}`);
  await mq.connect();
  const server = mq.connection!.serverProperties;
  console.log(
    `connected: ${String(server.product)} ${String(server.version)} (frame_max ${mq.connection!.frameMax}, heartbeat ${mq.connection!.heartbeatSeconds} s)`,
  );
  console.log(`declared exchange ${exchange} (topic) and queue ${queue} bound with order.*`);

  await mq.publishMessage('order.created', { id: 1, total: 9.99 }, { exchange });
  await mq.publishMessage('order.paid', 'order 1 paid', {
    exchange,
    headers: { 'x-amount-cents': 999, 'x-big': 2n ** 40n },
  });
  await mq.publishMessage('order.shipped', Buffer.from([0xde, 0xad, 0xbe, 0xef]), { exchange });
  console.log('published 3 messages, each confirmed by the broker');
  try {
    await mq.publishMessage('invoice.created', 'nobody listens', { exchange });
  } catch (err) {
    if (!(err instanceof UnroutableError)) throw err;
    console.log(`unroutable message rejected as expected: ${err.code}`);
  }

  const ch = await mq.getChannel();
  for (;;) {
    const m = await ch.basicGet({ queue });
    if (m === null) break;
    ch.basicAck(m.deliveryTag);
    const body =
      m.properties.contentType === 'application/json' || m.properties.contentType === 'text/plain'
        ? m.body.toString()
        : m.body.toString('hex');
    console.log(
      `got ${m.routingKey}: ${body} [${m.properties.contentType ?? 'bytes'}] headers=${JSON.stringify(m.properties.headers ?? {}, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))}`,
    );
  }
  await ch.queueDelete({ queue });
}

main()
  .then(() => mq.disconnect())
  .then(() => console.log('disconnected cleanly'))
  .catch(async (err: unknown) => {
    console.error(
      'demo failed:',
      err instanceof Error ? `${err.name} ${(err as { code?: string }).code ?? ''}: ${err.message}` : err,
    );
    await mq.disconnect().catch(() => {});
    process.exitCode = 1;
  });
