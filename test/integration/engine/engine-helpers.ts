/**
 * Shared set-up for the engine integration tests (real broker): connections that are closed after every
 * test, a check that no socket or timer outlives a test, a check that no promise rejection went unhandled,
 * and small utilities (settle-with-timeout, polling, sha256, rabbitmqctl connection look-up).
 */
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, expect } from 'vitest';
import { connect } from '../../../src/connection/connect.js';
import type { Connection } from '../../../src/connection/connection.js';
import type { ConnectOptions } from '../../../src/connection/options.js';
import { brokerUrl, rabbitmqctl } from '../../helpers/broker.js';
import { trackUnhandledRejections } from '../../helpers/guards.js';
import { expectNoOpenHandles, handleSnapshot } from '../../helpers/handles.js';

/** Host, port and credentials of the test broker as connect options (from `brokerUrl()`). */
export function brokerOptions(extra: ConnectOptions = {}): ConnectOptions {
  const u = new URL(brokerUrl());
  return {
    hostname: u.hostname,
    port: Number(u.port || 5672),
    username: decodeURIComponent(u.username || 'guest'),
    password: decodeURIComponent(u.password || 'guest'),
    vhost: u.pathname === '' || u.pathname === '/' ? '/' : decodeURIComponent(u.pathname.slice(1)),
    ...extra,
  };
}

/** `brokerUrl()` with its query string replaced by `query` (e.g. `heartbeat=7&frame_max=16384`). */
export function brokerUrlWith(query: string): string {
  const u = new URL(brokerUrl());
  u.search = query;
  return u.toString();
}

export interface EngineSuite {
  /** Connects (URL or options; default: the test broker) and closes the connection after the test. */
  open(urlOrOptions?: string | ConnectOptions): Promise<Connection>;
  /** Runs `fn` after the test (before connections are closed), last registered first; errors are ignored. */
  defer(fn: () => Promise<unknown> | unknown): void;
  /** Deletes these queues after the test, from a connection of its own. */
  deleteQueuesAfter(...names: string[]): void;
  /** Deletes these exchanges after the test, from a connection of its own. */
  deleteExchangesAfter(...names: string[]): void;
}

/**
 * Registers the hooks every engine test file uses and returns helpers bound to them:
 * - unhandled promise rejections are collected for the whole file and must be none (afterAll);
 * - connections opened with `open` are closed after each test, and then no socket or timer may be left
 *   beyond what was alive before the test (`expectNoOpenHandles`);
 * - queues/exchanges registered for deletion are deleted after each test.
 */
export function engineSuite(): EngineSuite {
  trackUnhandledRejections();
  let baseline: Record<string, number> = {};
  const connections: Connection[] = [];
  let deferred: Array<() => Promise<unknown> | unknown> = [];
  let queues: string[] = [];
  let exchanges: string[] = [];

  beforeEach(() => {
    baseline = handleSnapshot();
  });
  afterEach(async () => {
    const fns = deferred.reverse();
    deferred = [];
    for (const fn of fns) {
      try {
        await fn();
      } catch {
        // Cleanup is best effort.
      }
    }
    if (queues.length > 0 || exchanges.length > 0) {
      const admin = await connect(brokerOptions());
      try {
        const ch = await admin.createChannel();
        for (const queue of queues) await ch.queueDelete({ queue });
        for (const exchange of exchanges) await ch.exchangeDelete({ exchange });
      } finally {
        await admin.close();
      }
      queues = [];
      exchanges = [];
    }
    const conns = connections.splice(0);
    await Promise.all(conns.map((c) => c.close()));
    for (const c of conns) expect(c.state).toBe('closed');
    await expectNoOpenHandles(baseline, 2000);
  });

  return {
    async open(urlOrOptions = brokerUrl()) {
      const conn = await connect(urlOrOptions);
      connections.push(conn);
      return conn;
    },
    defer(fn) {
      deferred.push(fn);
    },
    deleteQueuesAfter(...names) {
      queues.push(...names);
    },
    deleteExchangesAfter(...names) {
      exchanges.push(...names);
    },
  };
}

export type Outcome<T> =
  | { status: 'fulfilled'; value: T }
  | { status: 'rejected'; reason: unknown }
  | { status: 'pending' };

/** Waits up to `ms` for `p`; reports 'pending' instead of hanging when it never settles. */
export async function settleWithin<T>(p: Promise<T>, ms: number): Promise<Outcome<T>> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<Outcome<T>>((resolve) => {
    timer = setTimeout(() => resolve({ status: 'pending' }), ms);
  });
  const settled = p.then(
    (value): Outcome<T> => ({ status: 'fulfilled', value }),
    (reason: unknown): Outcome<T> => ({ status: 'rejected', reason }),
  );
  try {
    return await Promise.race([settled, pending]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Settles every promise or gives up after `ms`; returns the outcomes (pending ones as 'pending'). Handlers
 * are attached to all of them at once, so none of them counts as an unhandled rejection.
 */
export function settleAllWithin<T>(ps: Promise<T>[], ms: number): Promise<Outcome<T>[]> {
  return Promise.all(ps.map((p) => settleWithin(p, ms)));
}

/** Resolves with the first emission of `event` (its arguments), or rejects after `ms`. */
export function nextEvent<A extends unknown[]>(
  emitter: {
    once(event: string, fn: (...args: A) => void): unknown;
    off(event: string, fn: (...args: A) => void): unknown;
  },
  event: string,
  ms = 5000,
): Promise<A> {
  return new Promise((resolve, reject) => {
    const onEvent = (...args: A) => {
      clearTimeout(timer);
      resolve(args);
    };
    const timer = setTimeout(() => {
      emitter.off(event, onEvent);
      reject(new Error(`no '${event}' event within ${ms} ms`));
    }, ms);
    emitter.once(event, onEvent);
  });
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * The broker-side pid of the connection whose client properties carry `connection_name` = `name`, as
 * `rabbitmqctl close_connection` wants it (`<rabbit@host.1795596175.1027.0>`). Undefined when not listed.
 */
export async function connectionPid(name: string): Promise<string | undefined> {
  const out = await rabbitmqctl('list_connections', '--quiet', '--no-table-headers', 'pid', 'client_properties');
  for (const line of out.split('\n')) {
    if (!line.includes(`{"connection_name","${name}"}`)) continue;
    const pid = line.split('\t')[0]?.trim();
    if (pid) return pid;
  }
  return undefined;
}

/** True once rabbitmqctl no longer lists a connection named `name` (polls for up to `ms`). */
export async function connectionGone(name: string, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if ((await connectionPid(name)) === undefined) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export { sleep, waitFor } from '../../helpers/wait.js';
