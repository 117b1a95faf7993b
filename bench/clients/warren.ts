/** warren's engine (src/connection): a confirm channel (callback confirms) and basic.consume with per-message basic.ack. */
import { type Channel, connect } from '../../src/connection/index.js';
import type { ClientAdapter, ConfirmHandlers } from './types.js';

const PERSISTENT = { deliveryMode: 2 } as const;

/** The engine's callback form of confirmed publishing (as amqplib's confirm callbacks): no promise per message. */
function publisherOn(ch: Channel, queue: string, exchange: string, { onConfirm, onError }: ConfirmHandlers) {
  const target = { exchange, routingKey: queue };
  const confirm = { resolve: onConfirm, reject: onError };
  return {
    publish(body: Buffer) {
      ch.publishConfirmed(target, body, PERSISTENT, confirm);
    },
  };
}

const warren: ClientAdapter = {
  async openPublisher({ url, queue, exchange = '' }, handlers) {
    const conn = await connect(url);
    const ch = await conn.createChannel();
    await ch.confirmSelect();
    return { ...publisherOn(ch, queue, exchange, handlers), close: () => conn.close() };
  },

  async openChannelPublishers({ url, queue, exchange = '', channels }, handlers) {
    const conn = await connect(url);
    const chs = await Promise.all(Array.from({ length: channels }, () => conn.createChannel()));
    await Promise.all(chs.map((ch) => ch.confirmSelect()));
    return {
      publishers: chs.map((ch, i) => ({ ...publisherOn(ch, queue, exchange, handlers[i]!), close: async () => {} })),
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
