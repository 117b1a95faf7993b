/**
 * Blocking code: SyncRabbitMQ has the same surface as AsyncRabbitMQ without promises (it runs one in a
 * worker thread). For scripts, synchronous hooks, and ports of blocking Python code.
 *
 *   npx tsx examples/sync-client.ts
 */
import { randomBytes } from 'node:crypto';
import { SyncRabbitMQ } from 'warren';

const queue = `example.sync.${randomBytes(3).toString('hex')}`;
const mq = new SyncRabbitMQ({ queues: [{ name: queue }] });
mq.connect();
try {
  for (let n = 1; n <= 3; n++) mq.publishMessage(queue, { n }); // each returns after the broker's confirm
  const ch = mq.getChannel();
  const first = ch.basicGet({ queue });
  if (first) {
    console.log(`basicGet: ${first.body.toString()}`);
    ch.basicAck(first.deliveryTag);
  }
  for (const d of ch.consume({ queue }, { inactivityTimeoutMs: 500 })) {
    console.log(`consume: ${d.body.toString()}`);
    ch.basicAck(d.deliveryTag);
  } // idle for 500 ms: the loop ends and the consumer is cancelled
  ch.queueDelete({ queue });
} finally {
  mq.disconnect();
}
