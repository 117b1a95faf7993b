/**
 * Shared set-up of the AsyncRabbitMQ integration tests (real broker, run in parallel with other files:
 * unique names only, nothing that affects other connections).
 *
 * `clientSuite()` registers hooks that, after every test, disconnect the clients the test made, delete
 * the queues and exchanges it registered, and then check that no socket or timer outlived the test; and,
 * for the whole file, that no promise rejection went unhandled.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { afterEach, beforeEach, expect } from 'vitest';
import { AsyncRabbitMQ, type AsyncRabbitMQOptions } from '../../../src/client/async-rabbitmq.js';
import type { RabbitMQConfig } from '../../../src/client/config.js';
import type { Channel, GetMessage } from '../../../src/connection/channel.js';
import { connect } from '../../../src/connection/connect.js';
import { brokerUrl } from '../../helpers/broker.js';
import { trackUnhandledRejections } from '../../helpers/guards.js';
import { expectNoOpenHandles, handleSnapshot } from '../../helpers/handles.js';

export interface ClientSuite {
  /** A client on the test broker (unless `options.urls` says otherwise), disconnected after the test. */
  client(config?: RabbitMQConfig, options?: AsyncRabbitMQOptions): AsyncRabbitMQ;
  /** Disconnects `mq` after the test too (for clients built directly). */
  track(mq: AsyncRabbitMQ): AsyncRabbitMQ;
  deleteQueuesAfter(...names: string[]): void;
  deleteExchangesAfter(...names: string[]): void;
  /** Runs `fn` after the test, before clients are disconnected (last registered first). */
  defer(fn: () => unknown): void;
}

export function clientSuite(): ClientSuite {
  trackUnhandledRejections();
  let baseline: Record<string, number> = {};
  let clients: AsyncRabbitMQ[] = [];
  let queues: string[] = [];
  let exchanges: string[] = [];
  let deferred: Array<() => unknown> = [];

  beforeEach(() => {
    baseline = handleSnapshot();
  });
  afterEach(async () => {
    for (const fn of deferred.reverse()) {
      try {
        await fn();
      } catch {
        // best effort
      }
    }
    deferred = [];
    await Promise.all(clients.map((c) => c.disconnect().catch(() => {})));
    clients = [];
    if (queues.length > 0 || exchanges.length > 0) {
      const admin = await connect(brokerUrl());
      try {
        for (const queue of queues) {
          const ch = await admin.createChannel();
          await ch.queueDelete({ queue }).catch(() => {});
          await ch.close();
        }
        for (const exchange of exchanges) {
          const ch = await admin.createChannel();
          await ch.exchangeDelete({ exchange }).catch(() => {});
          await ch.close();
        }
      } finally {
        await admin.close();
      }
      queues = [];
      exchanges = [];
    }
    await expectNoOpenHandles(baseline, 2000);
  });

  return {
    client(config = {}, options = {}) {
      const mq = new AsyncRabbitMQ(config, { urls: brokerUrl(), heartbeat: 10, ...options });
      clients.push(mq);
      return mq;
    },
    track(mq) {
      clients.push(mq);
      return mq;
    },
    deleteQueuesAfter(...names) {
      queues.push(...names);
    },
    deleteExchangesAfter(...names) {
      exchanges.push(...names);
    },
    defer(fn) {
      deferred.push(fn);
    },
  };
}

/** The error `p` rejects with; fails the test when it resolves instead. */
export async function rejectionOf(p: Promise<unknown>): Promise<Error> {
  const outcome = await p.then(
    (value) => ({ ok: true as const, value }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  if (outcome.ok) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.err).toBeInstanceOf(Error);
  return outcome.err as Error;
}

/** Every message in `queue` (basic.get with auto-ack until empty). */
export async function getAll(ch: Channel, queue: string): Promise<GetMessage[]> {
  const out: GetMessage[] = [];
  for (;;) {
    const m = await ch.basicGet({ queue, noAck: true });
    if (m === null) return out;
    out.push(m);
  }
}

/** Message count of `queue`, from a passive declare on a short-lived channel of `ch`'s choosing. */
export async function messageCount(ch: Channel, queue: string): Promise<number> {
  const ok = await ch.queueDeclare({ queue, passive: true });
  return ok.messageCount;
}

/** `brokerUrl()` with the password replaced. */
export function brokerUrlWithPassword(password: string): string {
  const u = new URL(brokerUrl());
  u.password = password;
  return u.toString();
}

/** `brokerUrl()` with the port replaced. */
export function brokerUrlWithPort(port: number, host = '127.0.0.1'): string {
  const u = new URL(brokerUrl());
  u.hostname = host;
  u.port = String(port);
  return u.toString();
}

/** A local port nothing listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export interface TestProxy {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Drops every connection it carries (both sides), as a network failure would. */
  dropAll(): void;
  /** From now on new connections are accepted and never answered (a black hole). */
  blackHole(): void;
  /** From now on new connections are closed as soon as they are accepted (a broker that is down). */
  refuse(): void;
  /** Forwards new connections again. */
  restore(): void;
  /** Black-holed connections whose client has not closed them yet. */
  readonly heldInHole: number;
  /** Sockets the proxy has open (both sides), to tell them from the client's in handle counts. */
  readonly openSockets: number;
  close(): Promise<void>;
}

/**
 * A TCP proxy to the test broker for one client: lets a test break *its own* connection without touching
 * anybody else's on the shared broker.
 */
export async function startTestProxy(): Promise<TestProxy> {
  const target = new URL(brokerUrl());
  const sockets = new Set<Socket>();
  let hole = false;
  let refusing = false;
  let accepted = 0;
  const inHole = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  };
  const server: Server = createServer((client) => {
    accepted++;
    track(client);
    if (refusing) {
      client.destroy();
      return;
    }
    if (hole) {
      inHole.add(client);
      client.on('close', () => inHole.delete(client));
      // Read and discard, so the client sees its bytes leave and a peer that never answers.
      client.resume();
      return;
    }
    const up = netConnect({ host: target.hostname, port: Number(target.port || 5672) });
    track(up);
    client.pipe(up);
    up.pipe(client);
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    get accepted() {
      return accepted;
    },
    dropAll() {
      for (const s of sockets) s.destroy();
    },
    blackHole() {
      hole = true;
    },
    refuse() {
      refusing = true;
    },
    restore() {
      refusing = false;
      hole = false;
    },
    get heldInHole() {
      return inHole.size;
    },
    get openSockets() {
      return sockets.size;
    },
    close() {
      return new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      });
    },
  };
}
