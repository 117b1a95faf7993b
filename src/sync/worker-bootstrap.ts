/**
 * How the SyncRabbitMQ worker thread is started, and how it reports that it could not start or ended.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type SerializedError, serializeError } from './messages.js';

/** Where the worker's code is: the built sibling file, or the TypeScript source (run through tsx). */
export function workerLocation(): { url: URL; fromSource: boolean } {
  const here = import.meta.url;
  for (const name of ['sync-worker.cjs']) {
    const url = new URL(`./${name}`, here);
    if (!here.endsWith('.ts') && existsSync(fileURLToPath(url))) return { url, fromSource: false };
  }
  return { url: new URL('./worker.ts', here), fromSource: true };
}

/** Slots of the shared Int32Array between the caller and the worker. */
export const WAKE = 0; // set to 1 (and notified) when a reply was posted
export const STARTED = 1; // set to 1 once the worker's bootstrap runs

/**
 * The worker's first code. It is evaluated as a CommonJS script or as an ES module depending on the flags
 * the process was started with (`--input-type`, `--experimental-default-type`), so it uses only what
 * both have: no `require`, no `import` declarations, no top-level await; just `import()` and globals.
 *
 * It loads the worker module, and answers the blocked caller (request id -1) when that fails or when the
 * thread exits for any reason (process.exit, an uncaught exception or rejection): the caller then throws
 * at once instead of waiting for a worker that is gone.
 */
export function bootstrap(url: URL, fromSource: boolean): string {
  const register = fromSource ? "const { register } = await import('tsx/esm/api'); register();" : '';
  return `
import('node:worker_threads').then(({ workerData }) => {
  const { replies, signal } = workerData;
  Atomics.store(signal, ${STARTED}, 1);
  const describe = (err) => ({ name: (err && err.name) || 'Error', message: String(err && err.message !== undefined ? err.message : err), stack: err && err.stack });
  let told = false;
  const tell = (code, message, cause) => {
    if (told) return;
    told = true;
    replies.postMessage({ id: -1, ok: false, error: { name: 'WarrenError', code, message, recoverable: false, cause } });
    Atomics.store(signal, ${WAKE}, 1);
    Atomics.notify(signal, ${WAKE});
  };
  let crash;
  process.on('uncaughtExceptionMonitor', (err) => { crash = err; });
  process.on('exit', (code) => {
    const why = crash === undefined ? '' : ': ' + describe(crash).message;
    tell('ERR_SYNC_WORKER_EXIT', 'the SyncRabbitMQ worker exited with exit code ' + code + why, crash === undefined ? undefined : describe(crash));
  });
  return (async () => { ${register} await import(${JSON.stringify(url.href)}); })().catch((err) => {
    tell('ERR_SYNC_WORKER_START', 'the SyncRabbitMQ worker failed to start: ' + describe(err).message, describe(err));
  });
});`;
}

/** The error of a worker whose end was seen by its 'exit' event (it could not tell, e.g. terminated). */
export function exitError(code: number, err?: unknown): SerializedError {
  const why = err instanceof Error ? `: ${err.message}` : '';
  return {
    name: 'WarrenError',
    code: 'ERR_SYNC_WORKER_EXIT',
    message: `the SyncRabbitMQ worker exited with exit code ${code}${why}`,
    recoverable: false,
    cause: err === undefined ? undefined : serializeError(err),
  };
}
