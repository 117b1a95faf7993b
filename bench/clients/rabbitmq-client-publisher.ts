/**
 * rabbitmq-client's robust publisher: `Connection.createPublisher({ confirm: true })` (recovers its
 * channel, resolves `send` on the confirm). A peer for warren's high-level `publishMessage` (warren-mq).
 */
import { Connection } from 'rabbitmq-client';
import type { ClientAdapter } from './types.js';

const adapter: ClientAdapter = {
  async openPublisher({ url, queue, exchange = '' }, { onConfirm, onError }) {
    const conn = new Connection({ url, retryLow: 100, retryHigh: 200, connectionTimeout: 10_000 });
    conn.on('error', onError);
    await conn.onConnect(10_000);
    const pub = conn.createPublisher({ confirm: true, maxAttempts: 1 });
    const envelope = { exchange, routingKey: queue, durable: true };
    return {
      publish(body) {
        pub.send(envelope, body).then(onConfirm, onError);
      },
      async close() {
        await pub.close();
        await conn.close();
      },
    };
  },
};

export default adapter;
