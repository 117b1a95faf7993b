/** warren's engine (src/connection): a confirm channel (callback confirms) and basic.consume with per-message basic.ack. */
import { connect } from '../../src/connection/index.js';
import type { ClientAdapter } from './types.js';

const PERSISTENT = { deliveryMode: 2 } as const;

const warren: ClientAdapter = {
  async openPublisher({ url, queue }, { onConfirm, onError }) {
    const conn = await connect(url);
    const ch = await conn.createChannel();
    await ch.confirmSelect();
    const target = { exchange: '', routingKey: queue };
    // The engine's callback form of confirmed publishing (as amqplib's confirm callbacks): no promise per message.
    const confirm = { resolve: onConfirm, reject: onError };
    return {
      publish(body) {
        ch.publishConfirmed(target, body, PERSISTENT, confirm);
      },
      close: () => conn.close(),
    };
  },

  async openConsumer({ url, queue, prefetch }, { onMessage, onError }) {
    const conn = await connect(url);
    const ch = await conn.createChannel();
    ch.on('consumerError', (err) => onError(err));
    ch.on('close', (err) => err && onError(err));
    await ch.basicQos({ prefetchCount: prefetch });
    return {
      async start() {
        await ch.basicConsume({ queue }, (d) => {
          ch.basicAck(d.deliveryTag);
          onMessage();
        });
      },
      close: () => conn.close(),
    };
  },
};

export default warren;
