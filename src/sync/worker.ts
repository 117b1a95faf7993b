/**
 * The worker thread behind {@link SyncRabbitMQ}: runs an AsyncRabbitMQ and answers one request at a time.
 * The caller blocks on `signal` (Atomics.wait) until the answer is posted on `replies`.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { AsyncRabbitMQ, type AsyncRabbitMQOptions } from '../client/async-rabbitmq.js';
import type { RabbitMQConfig } from '../client/config.js';
import type { Logger } from '../client/settings.js';
import type { Channel } from '../connection/channel.js';
import {
  revive,
  type SyncLogRecord,
  type SyncRequest,
  type SyncResponse,
  serializeError,
  toThread,
} from './messages.js';

interface WorkerInit {
  config: RabbitMQConfig;
  options: AsyncRabbitMQOptions;
  replies: MessagePort;
  logs: MessagePort;
  signal: Int32Array;
}

const { config, options, replies, logs, signal } = workerData as WorkerInit;

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

async function handle(op: string, args: unknown[]): Promise<unknown> {
  if (client === undefined) throw startError;
  const mq = client;
  switch (op) {
    case 'connect':
      return mq.connect();
    case 'disconnect':
      channels.clear();
      return mq.disconnect();
    case 'declareInfrastructure':
      return mq.declareInfrastructure();
    case 'publishMessage': {
      const [routingKey, message, publishOptions] = args as Parameters<AsyncRabbitMQ['publishMessage']>;
      return mq.publishMessage(routingKey, message, publishOptions);
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
      ch.once('close', () => channels.delete(id));
      return id;
    }
    case 'channel': {
      const [id, method, ...rest] = args as [number, string, ...unknown[]];
      const ch = channels.get(id);
      if (!ch)
        throw new Error(`channel ${id} is closed (channels do not survive a reconnect: call getChannel() again)`);
      if (!CHANNEL_METHODS.has(method)) throw new Error(`unknown channel method ${method}`);
      return (ch as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!(...rest);
    }
    default:
      throw new Error(`unknown operation ${op}`);
  }
}

parentPort!.on('message', (req: SyncRequest) => {
  const answer = (response: SyncResponse) => {
    replies.postMessage(response);
    Atomics.store(signal, 0, 1);
    Atomics.notify(signal, 0);
  };
  Promise.resolve()
    .then(() => handle(req.op, revive(req.args) as unknown[]))
    .then(
      (value) => answer({ id: req.id, ok: true, value: toThread(value) }),
      (err: unknown) => answer({ id: req.id, ok: false, error: serializeError(err) }),
    );
});
