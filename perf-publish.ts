import { AsyncRabbitMQ } from './src/client/async-rabbitmq.js';
const N = 50_000;
const queue = `warren-perf-lifeapi-${process.pid}`;
const mq = new AsyncRabbitMQ({ queues: [{ name: queue, durable: true }] }, { urls: 'amqp://guest:guest@127.0.0.1:5672/%2F', publish: { maxBufferedMessages: 100_000 } });
await mq.connect();
const body = Buffer.alloc(100, 1);
for (let round = 0; round < 3; round++) {
  const t0 = performance.now();
  const ps: Promise<void>[] = new Array(N);
  for (let i = 0; i < N; i++) ps[i] = mq.publishMessage(queue, body, { persistent: false });
  const t1 = performance.now();
  await Promise.all(ps);
  const t2 = performance.now();
  console.log(`round ${round}: ${N} publishMessage calls ${(t1 - t0).toFixed(0)} ms (${((t1 - t0) * 1000 / N).toFixed(2)} µs/call), all confirmed after ${(t2 - t0).toFixed(0)} ms`);
}
const ch = await mq.getChannel();
await ch.queueDelete({ queue });
await mq.disconnect();
