/** amqplib's promise API: a ConfirmChannel with per-message confirm callbacks, consume with channel.ack. */
import amqplib from 'amqplib';
import type { ClientAdapter, ConfirmHandlers } from './types.js';

const PERSISTENT = { persistent: true } as const;

/**
 * Channel first: amqplib multiplexes channels onto the socket, and a connection.close sent on channel 0
 * can overtake acks still queued on the channel's own stream (the broker then requeues those messages).
 */
async function closeBoth(ch: amqplib.Channel, conn: amqplib.ChannelModel): Promise<void> {
  await ch.close();
  await conn.close();
}

/** Publishing on a confirm channel: one callback for every publish, its err argument tells nack from ack. */
function publisherOn(
  ch: amqplib.ConfirmChannel,
  queue: string,
  exchange: string,
  { onConfirm, onError }: ConfirmHandlers,
) {
  ch.on('error', onError);
  const settled = (err: unknown) => {
    if (err) onError(err);
    else onConfirm();
  };
  return {
    publish(body: Buffer) {
      // The boolean is "buffer below the high-water mark"; the window bounds what is in flight anyway.
      ch.publish(exchange, queue, body, PERSISTENT, settled);
    },
  };
}

const adapter: ClientAdapter = {
  async openPublisher({ url, queue, exchange = '' }, handlers) {
    const conn = await amqplib.connect(url);
    const ch = await conn.createConfirmChannel();
    return { ...publisherOn(ch, queue, exchange, handlers), close: () => closeBoth(ch, conn) };
  },

  async openChannelPublishers({ url, queue, exchange = '', channels }, handlers) {
    const conn = await amqplib.connect(url);
    const chs = await Promise.all(Array.from({ length: channels }, () => conn.createConfirmChannel()));
    return {
      publishers: chs.map((ch, i) => ({ ...publisherOn(ch, queue, exchange, handlers[i]!), close: async () => {} })),
      async close() {
        await Promise.all(chs.map((ch) => ch.close()));
        await conn.close();
      },
    };
  },

  async openConsumer({ url, queue, prefetch }, { onMessage, onError }) {
    const conn = await amqplib.connect(url);
    const ch = await conn.createChannel();
    ch.on('error', onError);
    await ch.prefetch(prefetch);
    return {
      async start() {
        await ch.consume(
          queue,
          (msg) => {
            if (msg === null) {
              onError(new Error('consumer cancelled by the broker'));
              return;
            }
            ch.ack(msg);
            onMessage();
          },
          { noAck: false },
        );
      },
      close: () => closeBoth(ch, conn),
    };
  },
};

export default adapter;
