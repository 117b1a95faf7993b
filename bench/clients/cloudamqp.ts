/** @cloudamqp/amqp-client low-level API: basicPublish resolves on the confirm; msg.ack() per delivery. */
import { AMQPClient } from '@cloudamqp/amqp-client';
import type { ClientAdapter } from './types.js';

const PERSISTENT = { deliveryMode: 2 } as const;

async function open(url: string) {
  const client = new AMQPClient(url);
  const conn = await client.connect();
  const ch = await conn.channel();
  return { conn, ch };
}

const adapter: ClientAdapter = {
  async openPublisher({ url, queue }, { onConfirm, onError }) {
    const { conn, ch } = await open(url);
    await ch.confirmSelect();
    return {
      publish(body) {
        ch.basicPublish('', queue, body, PERSISTENT).then(onConfirm, onError);
      },
      close: () => conn.close(),
    };
  },

  async openConsumer({ url, queue, prefetch }, { onMessage }) {
    const { conn, ch } = await open(url);
    await ch.basicQos(prefetch);
    return {
      async start() {
        await ch.basicConsume(queue, { noAck: false }, (msg) => {
          // Returning the ack's promise lets the library deal with a rejection, as in its README.
          const acked = msg.ack();
          onMessage();
          return acked;
        });
      },
      close: () => conn.close(),
    };
  },
};

export default adapter;
