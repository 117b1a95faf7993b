/**
 * The running totals behind `mq.stats()`: plain number fields, incremented in place on the hot path (no
 * event, no allocation), read into a {@link ClientStats} snapshot on demand.
 * @module
 */
import { PublishNackedError, UnroutableError } from '../errors.js';

/** What `mq.stats()` returns: running totals since the client was made, and gauges of now. */
export interface ClientStats {
  /** Messages accepted by the publish buffer (`publishMessage`, plus retry / dead-letter copies and RPC replies). */
  published: number;
  /** Of those, confirmed by the broker (returned ones not included). */
  confirmed: number;
  /** Rejected with `PublishNackedError` (nacked again after every retry). */
  nacked: number;
  /** Rejected with `UnroutableError` (mandatory and returned). */
  returned: number;
  /** Rejected otherwise once accepted (client closed, refused by the broker, not encodable). */
  publishFailed: number;
  /** Gauge: messages held until confirmed (the outage buffer plus those in flight). */
  pendingPublishes: number;
  /** Connections re-established after a loss. */
  reconnects: number;
  /** Milliseconds the broker kept the connection blocked, the current block included. */
  blockedMs: number;
  /** Gauge: whether the connection is blocked now. */
  blocked: boolean;
  /** Messages delivered to this client's consumers. */
  deliveries: number;
  /** Handler runs that resolved. */
  processed: number;
  /** Handler runs that threw, rejected or timed out. */
  failed: number;
  /** Failed messages sent to a retry queue. */
  retried: number;
  /** Messages sent to the dead-letter target (attempts exhausted, or undecodable). */
  deadLettered: number;
  /** Gauge: consumers started and not stopped. */
  consumers: number;
}

/** Totals of one publisher; the {@link Publisher} counts every accepted message and its outcome. */
export class PublishCounters {
  published = 0;
  confirmed = 0;
  nacked = 0;
  returned = 0;
  failed = 0;

  /** One held message reached its outcome: `err` undefined when confirmed. */
  settled(err: Error | undefined): void {
    if (err === undefined) this.confirmed++;
    else if (err instanceof UnroutableError) this.returned++;
    else if (err instanceof PublishNackedError) this.nacked++;
    else this.failed++;
  }
}

let clients = 0;

/** Totals of one client, apart from publishing; shared by the client and its consumers. */
export class ClientCounters {
  readonly client: { id: number; serverAddress: string | undefined; serverPort: number | undefined } = {
    id: ++clients,
    serverAddress: undefined,
    serverPort: undefined,
  };
  reconnects = 0;
  /** Completed blocked periods. */
  blockedMs = 0;
  /** `performance.now()` when the current block began; undefined when not blocked. */
  blockedSince: number | undefined = undefined;
  deliveries = 0;
  processed = 0;
  failed = 0;
  retried = 0;
  deadLettered = 0;
  consumers = 0;
  /** Whether a handler error went unheard once already (see `warnUnheard`). */
  warned = false;
}

const byHost = new WeakMap<object, ClientCounters>();

/** The counters of the client `host` belongs to (made on first use: any object carrying a session works). */
export function countersOf(host: object): ClientCounters {
  let c = byHost.get(host);
  if (c === undefined) {
    c = new ClientCounters();
    byHost.set(host, c);
  }
  return c;
}

/** A snapshot of a client's totals and gauges. */
export function snapshot(c: ClientCounters, p: PublishCounters, pendingPublishes: number): ClientStats {
  const since = c.blockedSince;
  return {
    published: p.published,
    confirmed: p.confirmed,
    nacked: p.nacked,
    returned: p.returned,
    publishFailed: p.failed,
    pendingPublishes,
    reconnects: c.reconnects,
    blockedMs: Math.round(c.blockedMs + (since === undefined ? 0 : performance.now() - since)),
    blocked: since !== undefined,
    deliveries: c.deliveries,
    processed: c.processed,
    failed: c.failed,
    retried: c.retried,
    deadLettered: c.deadLettered,
    consumers: c.consumers,
  };
}
