/** amqplib's promise API: a ConfirmChannel with per-message confirm callbacks, consume with channel.ack. */
import amqplib from 'amqplib';
import type { ClientAdapter } from './types.js';

const PERSISTENT = { persistent: true } as const;

/**
 * Channel first: amqplib multiplexes channels onto the socket, and a connection.close sent on channel 0
 * can overtake acks still queued on the channel's own stream (the broker then requeues those messages).
 */
async function closeBoth(ch: amqplib.Channel, conn: amqplib.ChannelModel): Promise<void> {
  await ch.close();
  await conn.close();
}

const adapter: ClientAdapter = {
  async openPublisher({ url, queue }, { onConfirm, onError }) {
    const conn = await amqplib.connect(url);
    const ch = await conn.createConfirmChannel();
    ch.on('error', onError);
    // One callback for every publish: its err argument tells nack from ack.
    const settled = (err: unknown) => {
      if (err) onError(err);
      else onConfirm();
    };
    return {
      publish(body) {
        // The boolean is "buffer below the high-water mark"; the window bounds what is in flight anyway.
        ch.sendToQueue(queue, body, PERSISTENT, settled);
      },
      close: () => closeBoth(ch, conn),
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
