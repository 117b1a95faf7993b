import { AsyncRabbitMQ, type RabbitMQConfig } from '../index.js';

/** Connection options the commands share: `--url`, else the environment (RABBITMQ_URL, ...). */
export interface ConnectOptions {
  url?: string | undefined;
}

/** A client for one command: few connect attempts, so a missing broker is reported within seconds. */
export function client(o: ConnectOptions, config: RabbitMQConfig = {}, name = 'warren cli'): AsyncRabbitMQ {
  return new AsyncRabbitMQ(config, {
    ...(o.url ? { urls: o.url } : {}),
    connectionName: name,
    connectRetry: { attempts: 2, baseDelayMs: 200 },
    connectionTimeout: 5000,
  });
}

/** Connects, runs `run`, and disconnects whatever happened. */
export async function withClient<T>(mq: AsyncRabbitMQ, run: () => Promise<T>): Promise<T> {
  await mq.connect();
  try {
    return await run();
  } finally {
    await mq.disconnect();
  }
}

/** JSON that carries bigints (64-bit header values) as strings. */
export function toJson(value: unknown, space?: number): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), space);
}
