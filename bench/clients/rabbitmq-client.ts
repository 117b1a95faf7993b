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
  async openPublisher({ url, queue }, { onConfirm, onError }) {
    const { conn, ch } = await open(url, onError);
    await ch.confirmSelect();
    const envelope = { routingKey: queue, durable: true };
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
