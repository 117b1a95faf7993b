/**
 * The worker thread behind {@link SyncRabbitMQ}: runs an AsyncRabbitMQ and answers its requests. They
 * arrive in shared memory (see mailbox.ts), waking this thread (Atomics.wait / Atomics.waitAsync); the
 * answer is written back there and the blocked caller woken with Atomics.notify.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { AsyncRabbitMQ, type AsyncRabbitMQOptions } from '../client/async-rabbitmq.js';
import type { RabbitMQConfig } from '../client/config.js';
import type { Logger } from '../client/settings.js';
import type { BasicConsumeOptions, Channel } from '../connection/channel.js';
import { WarrenError } from '../protocol/errors.js';
import { DeliveryBuffer } from './delivery-buffer.js';
import { type ManyMessage, WorkerMailbox } from './mailbox.js';
import { revive, type SerializedError, type SyncLogRecord, serializeError, toThread } from './messages.js';

interface WorkerInit {
  config: RabbitMQConfig;
  options: AsyncRabbitMQOptions;
  replies: MessagePort;
  requests: MessagePort;
  logs: MessagePort;
  signal: Int32Array;
  requestArea: SharedArrayBuffer;
  replyArea: SharedArrayBuffer;
}

const { config, options, replies, requests, logs, signal, requestArea, replyArea } = workerData as WorkerInit;

const forward =
  (level: SyncLogRecord['level']) =>
  (...args: unknown[]): void => {
    logs.postMessage({ level, args: args.map(toThread) } satisfies SyncLogRecord);
  };
const logger: Logger = {
  trace: forward('trace'),
  debug: forward('debug'),
  info: forward('info'),
  warn: forward('warn'),
  error: forward('error'),
};

// A bad config must reach the caller as the error it is, not as a worker that never answers.
let client: AsyncRabbitMQ | undefined;
let startError: unknown;
try {
  client = new AsyncRabbitMQ(revive(config) as RabbitMQConfig, {
    ...(revive(options) as AsyncRabbitMQOptions),
    logger,
  });
  client.on('error', () => {
    // Background errors are logged by the client (and so forwarded); calls report their own.
  });
} catch (err) {
  startError = err;
}
const channels = new Map<number, Channel>();
let nextChannel = 1;
/** Consumers of blocking channels: channel handle → consumer tag → its buffered deliveries. */
const consumers = new Map<number, Map<string, DeliveryBuffer>>();

function channelOf(id: number): Channel {
  const ch = channels.get(id);
  if (!ch) {
    throw new WarrenError(`channel ${id} is closed (channels do not survive a reconnect: call getChannel() again)`, {
      code: 'ERR_CHANNEL_CLOSED',
      recoverable: true,
    });
  }
  return ch;
}

function bufferOf(id: number, consumerTag: string): DeliveryBuffer {
  channelOf(id);
  const buffer = consumers.get(id)?.get(consumerTag);
  if (!buffer) throw new Error(`no consumer ${JSON.stringify(consumerTag)} on channel ${id}`);
  return buffer;
}

/** The next delivery of a consumer; a consumer that ended is forgotten once a pull has reported it. */
function pull(id: number, consumerTag: string, timeoutMs: number) {
  return bufferOf(id, consumerTag)
    .pull(timeoutMs)
    .catch((err: unknown) => {
      consumers.get(id)?.delete(consumerTag);
      throw err;
    });
}

/** Starts a consumer whose deliveries wait in a buffer until the caller pulls them. */
async function consume(id: number, options: BasicConsumeOptions): Promise<{ consumerTag: string }> {
  const buffer = new DeliveryBuffer();
  const { consumerTag } = await channelOf(id).basicConsume(options, (d) => buffer.push(d));
  const byTag = consumers.get(id) ?? new Map<string, DeliveryBuffer>();
  consumers.set(id, byTag);
  byTag.set(consumerTag, buffer);
  return { consumerTag };
}

/** Cancels a consumer; deliveries it buffered but nobody pulled go back to the queue. */
async function cancel(id: number, consumerTag: string): Promise<void> {
  const ch = channelOf(id);
  const buffer = bufferOf(id, consumerTag);
  await ch.basicCancel(consumerTag);
  consumers.get(id)?.delete(consumerTag);
  buffer.end(new WarrenError(`consumer ${consumerTag} was cancelled`, { code: 'ERR_CONSUMER_CANCELLED' }));
  for (const d of buffer.drain()) ch.basicNack(d.deliveryTag, { requeue: true });
}

/** Watches a channel handed to the caller: its consumers end when the broker cancels them or it closes. */
function track(id: number, ch: Channel): void {
  ch.on('cancel', (consumerTag) => {
    consumers
      .get(id)
      ?.get(consumerTag)
      ?.end(
        new WarrenError(`the broker cancelled consumer ${consumerTag} (its queue was deleted?)`, {
          code: 'ERR_CONSUMER_CANCELLED',
          recoverable: true,
        }),
      );
  });
  ch.once('close', (err) => {
    channels.delete(id);
    const ended = new WarrenError(`channel ${id} closed${err ? `: ${err.message}` : ''}`, {
      code: 'ERR_CHANNEL_CLOSED',
      recoverable: true,
      cause: err,
    });
    for (const buffer of consumers.get(id)?.values() ?? []) buffer.end(ended);
    consumers.delete(id);
  });
}

/** A channel of the current connection for passive exchange checks (a failed check closes it). */
let checkChannel: Promise<Channel> | undefined;
let checkConnection: unknown;

/**
 * Why `exchange` cannot take messages (a ChannelError 404), or undefined when it exists or the check
 * itself could not be made (then the publish reports what happens).
 */
async function missingExchange(mq: AsyncRabbitMQ, exchange: string): Promise<unknown> {
  const conn = mq.connection;
  if (!conn?.isOpen) return undefined;
  try {
    let ch = await checkChannel;
    if (!ch?.isOpen || checkConnection !== conn) {
      checkConnection = conn;
      checkChannel = conn.createChannel();
      ch = await checkChannel;
    }
    await ch.exchangeDeclare({ exchange, passive: true });
    return undefined;
  } catch (err) {
    checkChannel = undefined;
    return err instanceof WarrenError && err.replyCode === 404 ? err : undefined;
  }
}

/**
 * Publishes all messages at once (confirms pipelined) and reports each failure by index. Exchanges other
 * than the default are checked first (passively): a publish to a missing exchange would close the
 * publish channel, and the messages in flight with it would be published again (at-least-once), so
 * such messages fail alone, unsent, and the others go out once.
 */
async function publishMany(mq: AsyncRabbitMQ, messages: ManyMessage[]) {
  const missing = new Map<string, unknown>();
  for (const m of messages) {
    const exchange = m.options?.exchange;
    if (!exchange || missing.has(exchange)) continue;
    missing.set(exchange, await missingExchange(mq, exchange));
  }
  const settled = await Promise.allSettled(
    messages.map((m) => {
      const why = m.options?.exchange ? missing.get(m.options.exchange) : undefined;
      return why === undefined ? mq.publishMessage(m.routingKey, m.message, m.options) : Promise.reject(why);
    }),
  );
  const failures: { index: number; error: SerializedError }[] = [];
  for (let i = 0; i < settled.length; i++) {
    const s = settled[i]!;
    if (s.status === 'rejected') failures.push({ index: i, error: serializeError(s.reason) });
  }
  return failures.length ? { failures } : undefined;
}

/** Channel methods the blocking facade may call. */
const CHANNEL_METHODS = new Set([
  'exchangeDeclare',
  'exchangeDelete',
  'exchangeBind',
  'exchangeUnbind',
  'queueDeclare',
  'queueBind',
  'queueUnbind',
  'queuePurge',
  'queueDelete',
  'basicQos',
  'basicGet',
  'basicAck',
  'basicNack',
  'basicReject',
  'basicRecover',
  'basicPublish',
  'confirmSelect',
  'txSelect',
  'txCommit',
  'txRollback',
  'close',
]);

/**
 * Test hooks (only with WARREN_SYNC_TEST_HOOKS=1 in the environment): end this thread the ways a bug or
 * a crash would, after `delayMs`, so tests can check what the blocked caller sees; or never answer.
 */
function testHook(op: string, args: unknown[]): Promise<unknown> | undefined {
  if (op === '__hangForTest') return new Promise(() => {});
  const [kind, delayMs, code] = args as ['exit' | 'throw' | 'reject', number, number?];
  setTimeout(() => {
    if (kind === 'exit') process.exit(code ?? 1);
    const err = new Error('worker crash requested by a test');
    if (kind === 'throw') throw err;
    void Promise.reject(err);
  }, delayMs);
  return undefined;
}

async function handle(op: string, args: unknown[]): Promise<unknown> {
  if (client === undefined) throw startError;
  const mq = client;
  switch (op) {
    case 'connect':
      return mq.connect();
    case 'disconnect':
      channels.clear();
      consumers.clear();
      return mq.disconnect();
    case 'declareInfrastructure':
      return mq.declareInfrastructure();
    case 'publishMessage': {
      const [routingKey, message, publishOptions] = args as Parameters<AsyncRabbitMQ['publishMessage']>;
      return mq.publishMessage(routingKey, message, publishOptions);
    }
    case 'publishMany': {
      const [messages] = args as [ManyMessage[]];
      return publishMany(mq, messages);
    }
    case 'status':
      return {
        isConnected: mq.isConnected,
        isReady: mq.isReady,
        state: mq.state,
        pendingPublishes: mq.pendingPublishes,
      };
    case 'getChannel': {
      const ch = await mq.getChannel();
      for (const [id, known] of channels) if (known === ch) return id;
      const id = nextChannel++;
      channels.set(id, ch);
      track(id, ch);
      return id;
    }
    case 'channel': {
      const [id, method, ...rest] = args as [number, string, ...unknown[]];
      const ch = channelOf(id);
      if (!CHANNEL_METHODS.has(method)) throw new Error(`unknown channel method ${method}`);
      return (ch as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!(...rest);
    }
    case 'consume': {
      const [id, consumeOptions] = args as [number, BasicConsumeOptions];
      return consume(id, consumeOptions);
    }
    case 'next': {
      const [id, consumerTag, timeoutMs] = args as [number, string, number];
      return pull(id, consumerTag, timeoutMs);
    }
    case 'cancel': {
      const [id, consumerTag] = args as [number, string];
      return cancel(id, consumerTag);
    }
    case '__crashForTest':
    case '__hangForTest':
      if (process.env.WARREN_SYNC_TEST_HOOKS === '1') return testHook(op, args);
      throw new Error(`unknown operation ${op}`);
    default:
      throw new Error(`unknown operation ${op}`);
  }
}

const mailbox = new WorkerMailbox(signal, requestArea, replyArea, requests, replies, ({ id, op, args }) => {
  handle(op, args).then(
    (value) => mailbox.answer(id, value === undefined ? undefined : toThread(value)),
    (err: unknown) => mailbox.fail(id, serializeError(err)),
  );
});
mailbox.start();
// Requests come through shared memory, which does not keep a thread alive: this listener does (until
// the caller terminates the worker).
parentPort!.on('message', () => {});
