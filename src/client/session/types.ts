/**
 * What the parts of a client see of its connection's life: the {@link Session} interface, the
 * {@link Participant} contract, the states and the events. Consumers and RPC depend on these, never on
 * the facade (`AsyncRabbitMQ`) that wires them together.
 * @module
 */
import type { Connection } from '../../connection/connection.js';
import type { ResolvedConfig } from '../config.js';
import type { MessageBody, PublishMessageOptions } from '../message.js';
import type { Logger } from '../settings.js';

/**
 * Where a session is in its life. One transition function moves it (see `Session`):
 *
 * ```text
 * idle ─connect()─▶ connecting ─set up─▶ ready(gen N) ─lost─▶ reconnecting ─set up─▶ ready(gen N+1) …
 *                       │ gave up          │ disconnect()         │ disconnect()
 *                       ▼                  ▼                      ▼
 *                     closed ◀──────────── closing ◀──────────────┘        (closed ─connect()─▶ connecting)
 * ```
 */
export type SessionState = 'idle' | 'connecting' | 'ready' | 'reconnecting' | 'closing' | 'closed';

/**
 * Something that lives on the connection and is rebuilt on every generation (the publish channel owner,
 * consumers, the RPC caller). A participant must check, after each of its own awaits, that the generation
 * it works for is still the one it was attached to: the session ignores the callbacks of old generations,
 * and so must the participant.
 */
export interface Participant {
  /**
   * Called once per generation, with a connection that is open and whose topology is declared. Rejects when
   * the participant could not attach; the session reports that (or, on a lost connection, retries the
   * whole generation) and the participant recovers on its own on a live connection.
   */
  attach(conn: Connection, gen: number): Promise<void>;
  /** Generation `gen` is over (its connection is gone, or set-up failed): drop what belonged to it. */
  detach(gen: number, err: Error): void;
  /** Graceful stop on `disconnect()`: finish by `deadline` (epoch ms), whatever happens. */
  stop(deadline: number): Promise<void>;
}

/** The ready connection and the generation it belongs to. */
export interface Generation {
  readonly conn: Connection;
  readonly gen: number;
}

/** What consumers and RPC get from the client: its connection's life, and publishing. */
export interface Session {
  /** The validated topology, declared on every generation. */
  readonly config: ResolvedConfig;
  readonly logger: Logger;
  readonly state: SessionState;
  /** The ready generation, if the session is ready. */
  readonly current: Generation | undefined;
  /** Names the broker gave to the config's server-named queues (`name: ''`) in the latest generation. */
  readonly serverNamedQueues: readonly string[];
  /** Confirmed publishing through the client's buffer (see `AsyncRabbitMQ.publishMessage`). */
  publish(routingKey: string, body: MessageBody, options?: PublishMessageOptions): Promise<void>;
  /**
   * Registers a participant. When the session is ready it is attached at once and the promise is that
   * attach; otherwise it resolves at once and the participant is attached with the next generation.
   */
  join(p: Participant): Promise<void>;
  leave(p: Participant): void;
  /** Resolves when the session is (next) ready; rejects when it is not connecting (idle, closing, closed). */
  ready(): Promise<Generation>;
  /** A failure in the background: the client's 'error' event when listened to, the logger otherwise. */
  report(err: unknown, what: string): void;
}

/** Anything that carries a session, such as `AsyncRabbitMQ`. */
export interface SessionHost {
  /** @internal */
  readonly session: Session;
}

/** Events of a client's session (re-emitted by `AsyncRabbitMQ`). It emits `'error'` only when a listener is registered. */
export interface SessionEvents {
  /** Connected (or reconnected) and topology declared; `url` has its password masked. */
  connected: [info: { url: string }];
  /** The connection was lost (`error` set) or closed by `disconnect()`. */
  disconnected: [error: Error | undefined];
  /** A reconnect attempt failed; the next one follows after `delayMs`. */
  reconnecting: [info: { attempt: number; delayMs: number; error: unknown }];
  blocked: [reason: string];
  unblocked: [];
  /** Something failed in the background (a consumer could not resubscribe...). */
  error: [error: unknown];
}

/** Where the events go: the facade's own emitter. */
export interface EventSink {
  emit<K extends keyof SessionEvents>(event: K, ...args: SessionEvents[K]): boolean;
  listenerCount(event: keyof SessionEvents): number;
}
