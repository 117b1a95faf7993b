/**
 * amqp-connection-manager's ChannelWrapper in confirm mode (over amqplib): queues publishes while
 * disconnected, resolves each on its confirm. A peer for warren's high-level `publishMessage` (warren-mq).
 */
import amqp from 'amqp-connection-manager';
import type { ClientAdapter } from './types.js';

const PERSISTENT = { persistent: true } as const;

const adapter: ClientAdapter = {
  async openPublisher({ url, queue, exchange = '' }, { onConfirm, onError }) {
    const conn = amqp.connect([url]);
    const ch = conn.createChannel({ confirm: true });
    ch.on('error', onError);
    await ch.waitForConnect();
    return {
      publish(body) {
        ch.publish(exchange, queue, body, PERSISTENT).then(onConfirm, onError);
      },
      async close() {
        await ch.close();
        await conn.close();
      },
    };
  },
};

export default adapter;
