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
 * Closes `conn` cleanly if the broker answers by `deadline`; otherwise drops the socket. Resolves once the
 * socket is gone (or, if even that does not happen, a second after the deadline).
 */
export async function closeBy(conn: Connection, deadline: number): Promise<void> {
  const closing = conn.close().catch(() => {});
  if (await within(closing, left(deadline))) return;
  destroyConnection(conn);
  await within(closing, 1000);
}

/**
 * Drops the connection's socket at once (everything pending on it fails with a ConnectionError).
 *
 * The seam: the engine gets a deadline of its own for `Connection.close()` (its peer may not answer or
 * read); until then, the engine's `destroy()` is used when it exists and the socket is destroyed directly
 * otherwise, which the connection sees as a lost socket and finishes as usual.
 */
export function destroyConnection(conn: Connection): void {
  const c = conn as unknown as { destroy?: (err?: Error) => void; stream?: { destroy(): void } };
  if (typeof c.destroy === 'function') c.destroy();
  else c.stream?.destroy();
}
