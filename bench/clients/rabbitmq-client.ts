/**
 * rabbitmq-client: a raw channel in confirm mode (ch.basicPublish resolves on the confirm) and
 * ch.basicConsume with ch.basicAck. Its Publisher / Consumer wrappers add retry and recovery layers on
 * top of these same calls, so the channel API is its fastest correct path.
 */
import { Connection } from 'rabbitmq-client';
import type { ClientAdapter } from './types.js';

async function open(url: string, onError: (err: unknown) => void) {
  const conn = new Connection({ url, retryLow: 100, retryHigh: 200, connectionTimeout: 10_000 });
  conn.on('error', onError);
  await conn.onConnect(10_000);
  const ch = await conn.acquire();
  return { conn, ch };
}

const adapter: ClientAdapter = {
  async openPublisher({ url, queue, exchange = '' }, { onConfirm, onError }) {
    const { conn, ch } = await open(url, onError);
    await ch.confirmSelect();
    const envelope = { exchange, routingKey: queue, durable: true };
    return {
      publish(body) {
        ch.basicPublish(envelope, body).then(onConfirm, onError);
      },
      async close() {
        await ch.close();
        await conn.close();
      },
    };
  },

  async openChannelPublishers({ url, queue, exchange = '', channels }, handlers) {
    const conn = new Connection({ url, retryLow: 100, retryHigh: 200, connectionTimeout: 10_000 });
    conn.on('error', (err) => handlers[0]!.onError(err));
    await conn.onConnect(10_000);
    const chs = await Promise.all(Array.from({ length: channels }, () => conn.acquire()));
    await Promise.all(chs.map((ch) => ch.confirmSelect()));
    const envelope = { exchange, routingKey: queue, durable: true };
    return {
      publishers: chs.map((ch, i) => {
        const { onConfirm, onError } = handlers[i]!;
        return {
          publish(body: Buffer) {
            ch.basicPublish(envelope, body).then(onConfirm, onError);
          },
          close: async () => {},
        };
      }),
      async close() {
        await Promise.all(chs.map((ch) => ch.close()));
        await conn.close();
      },
    };
  },

  // Its RPCClient against a Consumer that answers with the reply() it is handed.
  async openRpc({ url, queue }) {
    const conn = new Connection({ url, retryLow: 100, retryHigh: 200, connectionTimeout: 10_000 });
    await conn.onConnect(10_000);
    const server = conn.createConsumer(
      { queue, queueOptions: { durable: true }, qos: { prefetchCount: 100 } },
      async (msg, reply) => {
        await reply(msg.body);
      },
    );
    await new Promise<void>((resolve, reject) => {
      server.once('ready', () => resolve());
      server.once('error', reject);
    });
    const client = conn.createRPCClient({ confirm: false });
    return {
      async call(body) {
        const res = await client.send(queue, body);
        return res.body as Buffer;
      },
      async close() {
        await client.close();
        await server.close();
        await conn.close();
      },
    };
  },

  async openConsumer({ url, queue, prefetch }, { onMessage, onError }) {
    const { conn, ch } = await open(url, onError);
    await ch.basicQos({ prefetchCount: prefetch });
    return {
      async start() {
        await ch.basicConsume({ queue }, (msg) => {
          ch.basicAck({ deliveryTag: msg.deliveryTag });
          onMessage();
        });
      },
      async close() {
        await ch.close();
        await conn.close();
      },
    };
  },
};

export default adapter;
