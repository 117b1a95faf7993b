/**
 * warren's high-level client: `mq.publishMessage` (confirmed, buffered, republished on reconnect) and
 * `mq.consume`. Measures what the robustness layer costs on top of the engine row ("warren").
 */
import { AsyncRabbitMQ } from '../../src/client/async-rabbitmq.js';
import type { ClientAdapter } from './types.js';

const warrenMq: ClientAdapter = {
  publishMany: true,
  async openPublisher({ url, queue, exchange = '' }, { onConfirm, onError }) {
    const mq = new AsyncRabbitMQ({}, { urls: url, publish: { maxBufferedMessages: 100_000 } });
    mq.on('error', onError);
    await mq.connect();
    const options = { mandatory: false, exchange };
    return {
      publish(body) {
        mq.publishMessage(queue, body, options).then(onConfirm, onError);
      },
      close: () => mq.disconnect(),
    };
  },

  // mq.rpc (direct reply-to) against mq.rpcServer echoing the body, both on one client.
  async openRpc({ url, queue }) {
    const mq = new AsyncRabbitMQ({}, { urls: url });
    await mq.connect();
    await mq.rpcServer<Buffer, Buffer>(queue, (body) => body, { prefetch: 100, concurrency: 100 });
    return {
      call: (body) => mq.rpc<Buffer>(queue, body, { timeoutMs: 30_000 }),
      close: () => mq.disconnect(),
    };
  },

  // Awaiting each publishMessage before the next: the async twin of SyncRabbitMQ.publishMessage.
  async openBlockingPublisher({ url, queue, exchange }) {
    const mq = new AsyncRabbitMQ({}, { urls: url });
    await mq.connect();
    const options = exchange ? { exchange } : {};
    return {
      publish: (body) => mq.publishMessage(queue, body, options),
      // The async equivalent of SyncRabbitMQ.publishMany: all at once, awaited together.
      publishMany: async (bodies) => {
        await Promise.all(bodies.map((body) => mq.publishMessage(queue, body, options)));
      },
      close: () => mq.disconnect(),
    };
  },

  async openConsumer({ url, queue, prefetch }, { onMessage, onError }) {
    const mq = new AsyncRabbitMQ({}, { urls: url });
    mq.on('error', onError);
    await mq.connect();
    return {
      async start() {
        // Manual mode so the ack is sent before onMessage, as the scenario's contract asks.
        const consumer = await mq.consume(
          queue,
          (msg) => {
            msg.ack();
            onMessage();
          },
          { prefetch, manual: true, deadLetter: false },
        );
        consumer.on('error', onError);
      },
      close: () => mq.disconnect(),
    };
  },
};

export default warrenMq;
