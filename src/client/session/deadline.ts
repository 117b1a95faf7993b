/**
 * Bounded waiting: every wait of a shutdown ends by its deadline, and none leaves a timer behind.
 * @module
 */
import type { Connection } from '../../connection/connection.js';

/** Milliseconds left until `deadline` (epoch ms), never negative. */
export function left(deadline: number): number {
  return Math.max(0, deadline - Date.now());
}

/** Waits for `p` (ignoring its outcome) but no longer than `ms`; true when `p` settled in time. */
export function within(p: Promise<unknown> | undefined, ms: number): Promise<boolean> {
  if (p === undefined) return Promise.resolve(true);
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]).finally(() => clearTimeout(timer));
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
