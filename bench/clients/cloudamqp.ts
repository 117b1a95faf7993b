/** @cloudamqp/amqp-client low-level API: basicPublish resolves on the confirm; msg.ack() per delivery. */
import { AMQPClient, AMQPSession } from '@cloudamqp/amqp-client';
import type { ClientAdapter } from './types.js';

const PERSISTENT = { deliveryMode: 2 } as const;

async function open(url: string) {
  const client = new AMQPClient(url);
  const conn = await client.connect();
  const ch = await conn.channel();
  return { conn, ch };
}

const adapter: ClientAdapter = {
  async openPublisher({ url, queue, exchange = '' }, { onConfirm, onError }) {
    const { conn, ch } = await open(url);
    await ch.confirmSelect();
    return {
      publish(body) {
        ch.basicPublish(exchange, queue, body, PERSISTENT).then(onConfirm, onError);
      },
      close: () => conn.close(),
    };
  },

  async openChannelPublishers({ url, queue, exchange = '', channels }, handlers) {
    const client = new AMQPClient(url);
    const conn = await client.connect();
    const chs = await Promise.all(Array.from({ length: channels }, () => conn.channel()));
    await Promise.all(chs.map((ch) => ch.confirmSelect()));
    return {
      publishers: chs.map((ch, i) => {
        const { onConfirm, onError } = handlers[i]!;
        return {
          publish(body: Buffer) {
            ch.basicPublish(exchange, queue, body, PERSISTENT).then(onConfirm, onError);
          },
          close: async () => {},
        };
      }),
      close: () => conn.close(),
    };
  },

  // Its session RPC: AMQPSession.rpcServer (consumes the queue, replies) and a reusable rpcClient().
  async openRpc({ url, queue }) {
    const session = await AMQPSession.connect(url);
    await session.rpcServer(queue, (msg) => msg.body ?? new Uint8Array(0), 100);
    const rpc = await session.rpcClient();
    return {
      async call(body) {
        const reply = await rpc.call(queue, body);
        return Buffer.from(reply.body ?? new Uint8Array(0));
      },
      async close() {
        await session.stop();
      },
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
