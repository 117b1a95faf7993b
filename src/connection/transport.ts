import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { ConnectionError, WarrenError } from '../protocol/errors.js';
import { abortError, type ResolvedConnectOptions } from './options.js';
import { SlabReads } from './slab-reads.js';

/** A connected socket, and for plain TCP the reader its bytes arrive through (instead of 'data' events). */
export interface OpenedSocket {
  socket: Socket;
  reads: SlabReads | undefined;
}

/**
 * Opens the TCP or TLS socket to the broker. Rejects with a ConnectionError when the socket fails or
 * when `deadline` (epoch ms) passes first; either way no socket or timer is left behind.
 */
export function openSocket(options: ResolvedConnectOptions, deadline: number): Promise<OpenedSocket> {
  return new Promise((resolve, reject) => {
    const { hostname: host, port, tls } = options;
    // TLS sockets do not take `onread`: they keep the stream's own reads.
    const reads = tls ? undefined : new SlabReads();
    const socket = tls
      ? tlsConnect({ servername: isIp(host) ? undefined : host, ...tls, host, port })
      : netConnect({ host, port, onread: reads!.onread });
    const readyEvent = tls ? 'secureConnect' : 'connect';
    const fail = (err: Error | ConnectionError) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.removeListener(readyEvent, ready);
      socket.destroy();
      // Reject only once the socket is released, so a failed connect leaves no handle behind.
      const error =
        err instanceof WarrenError
          ? err
          : new ConnectionError(`cannot connect to ${host}:${port}: ${err.message}`, {
              code: (err as NodeJS.ErrnoException).code ?? 'ERR_CONNECT_FAILED',
              cause: err,
            });
      if (socket.closed) reject(error);
      else socket.once('close', () => reject(error));
    };
    const onAbort = () => fail(abortError(options.signal!));
    const ready = () => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.removeListener('error', fail);
      socket.setNoDelay(true);
      resolve({ socket, reads });
    };
    const timer = setTimeout(
      () =>
        fail(
          new ConnectionError(
            `cannot connect to ${host}:${port}: no connection within ${options.connectionTimeout} ms`,
            {
              code: 'ERR_CONNECTION_TIMEOUT',
            },
          ),
        ),
      Math.max(0, deadline - Date.now()),
    );
    socket.once(readyEvent, ready);
    socket.once('error', fail);
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}
