import { connect } from 'node:net';
import { brokerUrl } from './broker.js';

/** Fails the run early, with one clear message, when the broker is not reachable. */
export default async function setup(): Promise<void> {
  const url = new URL(brokerUrl());
  const port = Number(url.port || 5672);
  await new Promise<void>((resolve, reject) => {
    const s = connect({ host: url.hostname, port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`RabbitMQ is not reachable at ${url.hostname}:${port} (start it: rabbitmq-server -detached)`));
    }, 5000);
    s.once('connect', () => {
      clearTimeout(timer);
      s.end();
      resolve();
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(
        new Error(
          `RabbitMQ is not reachable at ${url.hostname}:${port}: ${err.message} (start it: rabbitmq-server -detached)`,
        ),
      );
    });
  });
}
