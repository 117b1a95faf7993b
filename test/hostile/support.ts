/** Shared plumbing of the hostile tests: a fake broker per test, handle checks, timing and rejection helpers. */
import { createHook } from 'node:async_hooks';
import { afterEach, beforeEach, expect } from 'vitest';
import { connect } from '../../src/connection/connect.js';
import type { Connection } from '../../src/connection/connection.js';
import type { ConnectOptions } from '../../src/connection/options.js';
import { ConnectionError, ProtocolError } from '../../src/protocol/errors.js';
import { expectNoOpenHandles, handleSnapshot } from '../helpers/handles.js';
import { type ClientCloseReply, FakeBroker, type FakePeer, type TuneValues } from './fake-broker.js';

/** The outcome of a promise, captured at once so that a rejection is never unhandled. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Attaches handlers to `p` right away and returns its outcome. */
export function settle<T>(p: Promise<T>): Promise<Outcome<T>> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/** Resolves like `p`, or rejects with a clear message when `p` takes longer than `ms`. Leaves no timer. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The error `p` rejects with (fails the test if it resolves), and how long it took from now. */
export async function rejection(
  p: Promise<unknown>,
  ms: number,
  what: string,
): Promise<{ error: unknown; elapsed: number }> {
  const t0 = Date.now();
  const outcome = await within(settle(p), ms, what);
  const elapsed = Date.now() - t0;
  if (outcome.ok) expect.fail(`${what}: resolved, expected a rejection`);
  return { error: outcome.error, elapsed };
}

/** The error of the connection's next 'close' event. */
export function nextClose(conn: Connection): Promise<ConnectionError | undefined> {
  return new Promise((resolve) => conn.once('close', resolve));
}

/**
 * Asserts `err` is the ConnectionError warren raises for a protocol violation: replyCode `replyCode`,
 * code the reply code's name, caused by a ProtocolError with the same reply code.
 */
export function expectProtocolFailure(err: unknown, replyCode: number, code: string): ConnectionError {
  expect(err).toBeInstanceOf(ConnectionError);
  const e = err as ConnectionError;
  expect({ replyCode: e.replyCode, code: e.code }).toEqual({ replyCode, code });
  expect(e.cause).toBeInstanceOf(ProtocolError);
  expect((e.cause as ProtocolError).replyCode).toBe(replyCode);
  return e;
}

/**
 * A handle baseline without vitest's own short-lived timers (its RPC calls to the main process keep one alive
 * now and then): the smallest count of each kind over a few samples. A baseline that happened to include such
 * a timer would hide a timer leaked by the test.
 */
async function quietBaseline(): Promise<Record<string, number>> {
  let min = handleSnapshot();
  for (let i = 0; i < 4; i++) {
    await new Promise((r) => setTimeout(r, 10));
    const now = handleSnapshot();
    const next: Record<string, number> = {};
    for (const [k, n] of Object.entries(min)) next[k] = Math.min(n, now[k] ?? 0);
    min = next;
  }
  return min;
}

const WARREN_SOURCE = /[\\/]src[\\/](connection|protocol|client)[\\/]/;
const TRACKED_TYPES = new Set(['Timeout', 'TCPWRAP', 'TLSWRAP']);

/**
 * Timers and sockets created by warren's own code (found from the creation stack) that are not yet destroyed.
 * Stricter than comparing handle counts, which vitest's own short-lived timers blur.
 */
class WarrenHandles {
  private readonly live = new Map<number, string>();
  private readonly hook = createHook({
    init: (asyncId, type) => {
      if (!TRACKED_TYPES.has(type)) return;
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 40;
      const stack = new Error().stack ?? '';
      Error.stackTraceLimit = limit;
      const at = stack.split('\n').find((line) => WARREN_SOURCE.test(line));
      if (at !== undefined) this.live.set(asyncId, `${type} created ${at.trim()}`);
    },
    destroy: (asyncId) => {
      this.live.delete(asyncId);
    },
  });

  start(): void {
    this.live.clear();
    this.hook.enable();
  }

  /** Waits up to `graceMs` for every tracked handle to be destroyed, then asserts none is left. */
  async expectNoneLeft(graceMs: number): Promise<void> {
    const deadline = Date.now() + graceMs;
    while (this.live.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const left = [...this.live.values()];
    this.hook.disable();
    this.live.clear();
    expect(left, 'timers or sockets created by warren and never released').toEqual([]);
  }
}

/** One fake broker per test. After each test: the broker is closed and no socket or timer is left. */
export interface BrokerFixture {
  readonly broker: FakeBroker;
  /** Starts the broker again with another reply to connection.close (call first thing in a test). */
  restart(onClientClose: ClientCloseReply): Promise<FakeBroker>;
}

export function useFakeBroker(onClientClose: ClientCloseReply = 'close-ok'): BrokerFixture {
  let broker: FakeBroker | undefined;
  let baseline: Record<string, number> = {};
  const warrenHandles = new WarrenHandles();
  beforeEach(async () => {
    baseline = await quietBaseline();
    broker = await FakeBroker.start({ onClientClose });
    warrenHandles.start();
  });
  afterEach(async () => {
    await broker?.close();
    broker = undefined;
    await warrenHandles.expectNoneLeft(1000);
    await expectNoOpenHandles(baseline, 1000);
  });
  return {
    get broker() {
      if (broker === undefined) throw new Error('no fake broker outside a test');
      return broker;
    },
    async restart(reply) {
      await broker?.close();
      broker = await FakeBroker.start({ onClientClose: reply });
      return broker;
    },
  };
}

/** Connects to the fake broker and plays a normal handshake: resolves with both ends of an open connection. */
export async function openConnection(
  broker: FakeBroker,
  options: ConnectOptions = {},
  tune: TuneValues = {},
): Promise<{ conn: Connection; peer: FakePeer }> {
  const connecting = connect(broker.options(options));
  const outcome = settle(connecting);
  const peer = await broker.accept();
  await peer.handshake('open-ok', tune);
  const result = await within(outcome, 2000, 'connect()');
  if (!result.ok) throw result.error;
  expect(result.value.isOpen).toBe(true);
  return { conn: result.value, peer };
}

/** Opens a channel on `conn`, with the fake broker answering channel.open. */
export async function openChannel(conn: Connection, peer: FakePeer) {
  const [channel] = await Promise.all([conn.createChannel(), peer.acceptChannel()]);
  return channel;
}

/** Closes the connection from the client side (the fake broker answers close-ok) and checks it is gone. */
export async function closeCleanly(conn: Connection, peer: FakePeer): Promise<void> {
  await within(conn.close(), 2000, 'conn.close()');
  expect(conn.state).toBe('closed');
  await peer.expectClientGone();
}

export { trackUnhandledRejections } from '../helpers/guards.js';
