/**
 * A client's connection life seen from outside: the session's events (connected, disconnected,
 * reconnecting, blocked, unblocked) pass through {@link observeEvents} on their way to the client's
 * emitter, which counts them and publishes them on the diagnostics channels. The session itself knows
 * nothing of it. Also the one place that keeps a handler error from going unheard.
 * @module
 */
import { HandlerError } from '../consume/errors.js';
import type { EventSink, SessionEvents } from '../session/types.js';
import { type Logger, silentLogger } from '../settings.js';
import {
  blockedChannel,
  connectChannel,
  disconnectChannel,
  reconnectingChannel,
  unblockedChannel,
} from './channels.js';
import { type ClientCounters, countersOf } from './stats.js';

/** The code of the process warning for a handler error nobody hears (see `warnUnheard`). */
export const HANDLER_ERROR_WARNING = 'WARREN_HANDLER_ERROR';

/** Wraps the client's emitter (`sink`): what the session emits is counted, published, then emitted. */
export function observeEvents(sink: EventSink): EventSink {
  return new ObservedSink(sink, countersOf(sink));
}

class ObservedSink implements EventSink {
  /** The last connection was lost (not closed by `disconnect()`): the next 'connected' is a reconnect. */
  private lost = false;

  constructor(
    private readonly sink: EventSink,
    readonly counters: ClientCounters,
  ) {}

  listenerCount(event: keyof SessionEvents): number {
    return this.sink.listenerCount(event);
  }

  emit<K extends keyof SessionEvents>(event: K, ...args: SessionEvents[K]): boolean {
    this.see(event, args);
    return this.sink.emit(event, ...args);
  }

  private see(event: keyof SessionEvents, args: readonly unknown[]): void {
    const c = this.counters;
    switch (event) {
      case 'connected': {
        const url = (args[0] as { url: string }).url;
        if (this.lost) c.reconnects++;
        this.lost = false;
        where(c, url);
        if (connectChannel.hasSubscribers) connectChannel.publish({ client: c.client, url });
        return;
      }
      case 'disconnected': {
        const error = args[0] as Error | undefined;
        this.unblock();
        this.lost = error !== undefined;
        if (disconnectChannel.hasSubscribers) disconnectChannel.publish({ client: c.client, error });
        return;
      }
      case 'reconnecting':
        if (reconnectingChannel.hasSubscribers) {
          const info = args[0] as { attempt: number; delayMs: number; error: unknown };
          reconnectingChannel.publish({ client: c.client, ...info });
        }
        return;
      case 'blocked':
        c.blockedSince ??= performance.now();
        if (blockedChannel.hasSubscribers) blockedChannel.publish({ client: c.client, reason: args[0] as string });
        return;
      case 'unblocked':
        this.unblock();
        return;
    }
  }

  /** Ends the current block, if any (unblocked, or the blocked connection is gone). */
  private unblock(): void {
    const c = this.counters;
    const since = c.blockedSince;
    if (since === undefined) return;
    c.blockedSince = undefined;
    const blockedMs = performance.now() - since;
    c.blockedMs += blockedMs;
    if (unblockedChannel.hasSubscribers) unblockedChannel.publish({ client: c.client, blockedMs });
  }
}

/** Remembers which broker node the client is connected to (host and port only: never credentials). */
function where(c: ClientCounters, url: string): void {
  try {
    const u = new URL(url);
    c.client.serverAddress = u.hostname.replace(/^\[(.*)\]$/, '$1');
    c.client.serverPort = u.port !== '' ? Number(u.port) : u.protocol === 'amqps:' ? 5671 : 5672;
  } catch {
    c.client.serverAddress = undefined;
    c.client.serverPort = undefined;
  }
}

/** The client (counters, identity) behind an event sink made by {@link observeEvents}, if it is one. */
export function countersOfSink(sink: EventSink): ClientCounters | undefined {
  return sink instanceof ObservedSink ? sink.counters : undefined;
}

/**
 * A background error that reached the client with no `'error'` listener. A handler error must not
 * vanish: with the default (silent) logger the first one of each client becomes a process warning
 * (code {@link HANDLER_ERROR_WARNING}), which Node prints on stderr unless told otherwise.
 */
export function warnUnheard(sink: EventSink, logger: Logger, err: unknown): void {
  if (logger !== silentLogger || !(err instanceof HandlerError)) return;
  const c = countersOfSink(sink) ?? countersOf(sink);
  if (c.warned) return;
  c.warned = true;
  process.emitWarning(
    `${err.message} (warren reports this once per client: listen for 'error' on the client or the consumer, or pass a logger, to see every failure)`,
    { type: 'WarrenWarning', code: HANDLER_ERROR_WARNING },
  );
}
