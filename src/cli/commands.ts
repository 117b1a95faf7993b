import { readFileSync } from 'node:fs';
import { AsyncRabbitMQ } from '../client/async-rabbitmq.js';
import { type RabbitMQConfig, validateConfig } from '../client/config.js';
import type { PublishMessageOptions } from '../client/message.js';
import { redactUrl } from '../client/settings.js';
import type { BasicProperties } from '../protocol/spec.js';

/** Parsed command-line options shared by the commands. */
export interface CliOptions {
  url?: string;
  exchange?: string;
  header: string[];
  contentType?: string;
  json: boolean;
  persistent: boolean;
  mandatory: boolean;
  count?: number;
  prefetch?: number;
  ack: boolean;
  timeout?: number;
}

/** Where a command writes: stdout lines and stderr lines (injectable for tests). */
export interface CliIO {
  out(line: string): void;
  err(line: string): void;
  stdin(): Promise<Buffer>;
  /** Resolves when the user interrupts (Ctrl-C). */
  interrupted: Promise<void>;
}

/** A command-line mistake: printed with the usage, exit code 2. */
export class UsageError extends Error {}

function client(o: CliOptions, config: RabbitMQConfig = {}): AsyncRabbitMQ {
  return new AsyncRabbitMQ(config, {
    ...(o.url ? { urls: o.url } : {}),
    connectionName: 'warren cli',
    connectRetry: { attempts: 2, baseDelayMs: 200 },
    connectionTimeout: 5000,
  });
}

function readConfig(path: string | undefined): RabbitMQConfig {
  if (!path) throw new UsageError('a config file is required');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as RabbitMQConfig;
  } catch (err) {
    throw new UsageError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
}

function headers(pairs: string[]): Record<string, string> | undefined {
  if (pairs.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--header must be key=value, got ${JSON.stringify(pair)}`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** Renders a message as one JSON line: bodies as text when they are, else base64. */
export function messageLine(m: {
  routingKey: string;
  exchange: string;
  redelivered: boolean;
  properties: BasicProperties;
  body: Buffer;
}): string {
  const text = m.body.toString('utf8');
  const isText = Buffer.from(text, 'utf8').equals(m.body);
  return JSON.stringify(
    {
      exchange: m.exchange,
      routingKey: m.routingKey,
      redelivered: m.redelivered,
      properties: m.properties,
      ...(isText ? { body: text } : { bodyBase64: m.body.toString('base64') }),
    },
    (_k, v) => (typeof v === 'bigint' ? v.toString() : v),
  );
}

async function withClient<T>(mq: AsyncRabbitMQ, run: () => Promise<T>): Promise<T> {
  await mq.connect();
  try {
    return await run();
  } finally {
    await mq.disconnect();
  }
}

/** `warren ping`: connects and reports what the broker said and what was negotiated. */
export async function ping(o: CliOptions, io: CliIO): Promise<void> {
  const mq = client(o);
  await withClient(mq, async () => {
    const conn = mq.connection!;
    const p = conn.serverProperties;
    io.out(`connected to ${mq.settings.urls.map(redactUrl).join(', ')}`);
    io.out(`server: ${String(p.product)} ${String(p.version)} (${String(p.platform)})`);
    io.out(
      `negotiated: frame_max ${conn.frameMax}, channel_max ${conn.channelMax}, heartbeat ${conn.heartbeatSeconds} s`,
    );
  });
}

/** `warren validate <config.json>`: checks a topology without connecting. */
export function validate(path: string | undefined, io: CliIO): void {
  const config = validateConfig(readConfig(path));
  io.out(
    `valid: ${config.exchanges.length} exchange(s), ${config.queues.length} queue(s), ${config.bindings.length} binding(s) in vhost ${config.vhost}`,
  );
}

/** `warren declare <config.json>`: validates and declares a topology. */
export async function declare(path: string | undefined, o: CliOptions, io: CliIO): Promise<void> {
  const mq = client(o, readConfig(path));
  await withClient(mq, async () => {
    io.out(
      `declared ${mq.config.exchanges.length} exchange(s), ${mq.config.queues.length} queue(s), ${mq.config.bindings.length} binding(s)`,
    );
    for (const name of mq.serverNamedQueues) io.out(`server-named queue: ${name}`);
  });
}

/** `warren publish <routingKey> [body]`: publishes one message (body from stdin when not given), confirmed. */
export async function publish(
  routingKey: string | undefined,
  body: string | undefined,
  o: CliOptions,
  io: CliIO,
): Promise<void> {
  if (routingKey === undefined) throw new UsageError('publish needs a routing key');
  const raw = body !== undefined ? Buffer.from(body) : await io.stdin();
  let message: Buffer | Record<string, unknown> = raw;
  if (o.json) {
    try {
      message = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new UsageError(`--json: the body is not valid JSON: ${(err as Error).message}`);
    }
  }
  const options: PublishMessageOptions = {
    persistent: o.persistent,
    mandatory: o.mandatory,
    ...(o.exchange !== undefined ? { exchange: o.exchange } : {}),
    ...(o.contentType !== undefined ? { contentType: o.contentType } : {}),
  };
  const h = headers(o.header);
  if (h) options.headers = h;
  const mq = client(o);
  await withClient(mq, () => mq.publishMessage(routingKey, message, options));
  io.out(
    `published to exchange ${JSON.stringify(o.exchange ?? '')} with routing key ${JSON.stringify(routingKey)}: confirmed`,
  );
}

/** `warren get <queue>`: fetches up to --count messages with basic.get, acking them with --ack. */
export async function get(queue: string | undefined, o: CliOptions, io: CliIO): Promise<void> {
  if (queue === undefined) throw new UsageError('get needs a queue');
  const mq = client(o);
  await withClient(mq, async () => {
    const ch = await mq.getChannel();
    const limit = o.count ?? 1;
    let n = 0;
    let last = 0;
    for (; n < limit; n++) {
      const m = await ch.basicGet({ queue });
      if (m === null) break;
      io.out(messageLine(m));
      last = m.deliveryTag;
      if (o.ack) ch.basicAck(m.deliveryTag);
    }
    // Requeued only once all are fetched: requeued one by one, the first would be fetched again and again.
    if (!o.ack && last > 0) ch.basicNack(last, { multiple: true, requeue: true });
    io.err(`${n} message(s)${o.ack ? ' (acked)' : ' (left in the queue)'}`);
  });
}

/** `warren consume <queue>`: prints and acks messages until --count or Ctrl-C. */
export async function consumeCommand(queue: string | undefined, o: CliOptions, io: CliIO): Promise<void> {
  if (queue === undefined) throw new UsageError('consume needs a queue');
  const mq = client(o);
  await withClient(mq, async () => {
    let seen = 0;
    let done: () => void = () => {};
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    // Manual acks: messages prefetched beyond --count go back to the queue instead of being acked unseen.
    const consumer = await mq.consume(
      queue,
      (msg) => {
        if (o.count !== undefined && seen >= o.count) {
          msg.nack({ requeue: true });
          return;
        }
        io.out(messageLine({ ...msg.fields, properties: msg.properties, body: msg.body }));
        msg.ack();
        if (o.count !== undefined && ++seen >= o.count) done();
      },
      { prefetch: Math.min(o.prefetch ?? 10, o.count ?? Number.POSITIVE_INFINITY), deadLetter: false, manual: true },
    );
    await Promise.race([finished, io.interrupted]);
    await consumer.stop({ timeoutMs: 5000 });
  });
}

/** `warren rpc <routingKey> <body>`: calls an RPC server and prints the reply. */
export async function rpcCommand(
  routingKey: string | undefined,
  body: string | undefined,
  o: CliOptions,
  io: CliIO,
): Promise<void> {
  if (routingKey === undefined || body === undefined) throw new UsageError('rpc needs a routing key and a body');
  const payload = o.json ? (JSON.parse(body) as Record<string, unknown>) : body;
  const mq = client(o);
  const reply = await withClient(mq, () =>
    mq.rpc(routingKey, payload, {
      timeoutMs: o.timeout ?? 10_000,
      ...(o.exchange !== undefined ? { exchange: o.exchange } : {}),
    }),
  );
  io.out(typeof reply === 'string' ? reply : Buffer.isBuffer(reply) ? reply.toString('utf8') : JSON.stringify(reply));
}
