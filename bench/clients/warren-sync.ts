/**
 * warren's blocking facade: `SyncRabbitMQ.publishMessage` (returns after the broker's confirm; the
 * AsyncRabbitMQ runs in a worker thread) and `publishMany` (pipelined confirms, blocking once).
 * CPU is the whole process's, so the worker thread's share is counted.
 */
import { SyncRabbitMQ } from '../../src/sync/sync-rabbitmq.js';
import type { ClientAdapter } from './types.js';

const warrenSync: ClientAdapter = {
  publishMany: true,
  async openBlockingPublisher({ url, queue, exchange }) {
    const mq = new SyncRabbitMQ({}, { urls: url });
    mq.connect();
    const options = exchange ? { exchange } : {};
    return {
      publish(body) {
        mq.publishMessage(queue, body, options);
      },
      publishMany(bodies) {
        mq.publishMany(bodies.map((message) => ({ routingKey: queue, message, options })));
      },
      async close() {
        mq.disconnect();
      },
    };
  },
};

export default warrenSync;
