/**
 * warren's high-level client: `mq.publishMessage` (confirmed, buffered, republished on reconnect) and
 * `mq.consume`. Measures what the robustness layer costs on top of the engine row ("warren").
 */
import { AsyncRabbitMQ } from '../../src/client/async-rabbitmq.js';
import type { ClientAdapter } from './types.js';

const warrenMq: ClientAdapter = {
  async openPublisher({ url, queue }, { onConfirm, onError }) {
    const mq = new AsyncRabbitMQ({}, { urls: url, publish: { maxBufferedMessages: 100_000 } });
    mq.on('error', onError);
    await mq.connect();
    return {
      publish(body) {
        mq.publishMessage(queue, body, { mandatory: false }).then(onConfirm, onError);
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
