/**
 * Bounded waiting: every wait of a shutdown ends by its deadline, and none leaves a timer behind.
 * @module
 */
import type { Connection } from '../../connection/connection.js';
import { WarrenError } from '../../protocol/errors.js';
import { AbortedError } from '../errors.js';

/** Milliseconds left until `deadline` (epoch ms), never negative. */
export function left(deadline: number): number {
  return Math.max(0, deadline - Date.now());
}

/**
 * Waits for `p` (ignoring its outcome) but no longer than `ms`, nor past an abort of `signal`; true when `p`
 * settled in time. Leaves no timer or listener behind.
 */
export function within(p: Promise<unknown> | undefined, ms: number, signal?: AbortSignal): Promise<boolean> {
  if (p === undefined) return Promise.resolve(true);
  if (signal?.aborted) return Promise.resolve(false);
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  return Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
      if (signal !== undefined) {
        onAbort = () => resolve(false);
        signal.addEventListener('abort', onAbort, { once: true });
      }
    }),
  ]).finally(() => {
    clearTimeout(timer);
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
  });
}

/** Waits `ms`, or less if `signal` aborts; leaves no timer either way. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Closes `conn` cleanly if the broker answers by `deadline`; otherwise the engine destroys the socket at
 * the deadline (pending work on it fails with a CloseTimeoutError). Resolves once the socket is gone.
 */
export function closeBy(conn: Connection, deadline: number): Promise<void> {
  return conn.close({ timeoutMs: left(deadline) }).catch(() => {});
}

/** Drops the connection's socket at once (everything pending on it fails). */
export function destroyConnection(conn: Connection): void {
  conn.close({ timeoutMs: 0 }).catch(() => {});
}

/** How long a call may take, and how to give it up: every public call that waits takes these. */
export interface CallOptions {
  /** Aborting it rejects the call with code `ERR_ABORTED` (the signal's reason as `cause`). */
  signal?: AbortSignal;
  /** Longest the call may take, in ms; past it the call rejects with the call's timeout error. */
  timeoutMs?: number;
}

/** Checks a `timeoutMs` option: a positive number of ms a timer can hold. */
export function checkTimeout(what: string, timeoutMs: number | undefined): void {
  if (timeoutMs === undefined) return;
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0 || timeoutMs > 0x7fffffff) {
    throw new WarrenError(
      `${what}: timeoutMs must be a number of ms from 0 to ${0x7fffffff}, got ${String(timeoutMs)}`,
      {
        code: 'ERR_INVALID_ARGUMENT',
        recoverable: false,
      },
    );
  }
}

/**
 * `p`, but given up when `options.signal` aborts (AbortedError) or `options.timeoutMs` passes (`timeout()`):
 * `gaveUp` is told, so the caller can undo what `p` stands for. Listens and times only when asked to;
 * leaves no timer or listener behind.
 */
export function bounded<T>(
  p: Promise<T>,
  options: CallOptions,
  how: { what: string; timeout(ms: number): Error; gaveUp?(err: Error): void },
): Promise<T> {
  const { signal, timeoutMs } = options;
  try {
    checkTimeout(how.what, timeoutMs);
  } catch (err) {
    return Promise.reject(err);
  }
  if (signal?.aborted) {
    const err = new AbortedError(how.what, signal.reason);
    how.gaveUp?.(err);
    p.catch(() => {});
    return Promise.reject(err);
  }
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const giveUp = (err: Error): void => {
      done();
      p.catch(() => {});
      reject(err);
      how.gaveUp?.(err);
    };
    const onAbort = (): void => giveUp(new AbortedError(how.what, signal?.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeoutMs !== undefined) timer = setTimeout(() => giveUp(how.timeout(timeoutMs)), timeoutMs);
    p.then(
      (v) => {
        done();
        resolve(v);
      },
      (err: unknown) => {
        done();
        reject(err);
      },
    );
  });
}
