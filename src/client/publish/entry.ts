import type { ReturnedMessage } from '../../connection/channel.js';
import type { PendingConfirm } from '../../connection/confirm-tracker.js';
import type { BasicProperties } from '../../protocol/spec.js';

/** One message on its way. */
export interface OutgoingMessage {
  exchange: string;
  routingKey: string;
  mandatory: boolean;
  body: Buffer;
  properties: BasicProperties;
}

/** Where an entry is. An entry is in exactly one place; only `IN_FLIGHT` entries sit in an in-flight list. */
export const QUEUED = 0;
export const IN_FLIGHT = 1;
/** Nacked, waiting for its retry: neither queued nor in flight. */
export const PARKED = 2;
export const DONE = 3;

/** What an entry reports its channel's verdicts to. */
export interface EntryOwner {
  confirmed(e: Entry): void;
  refused(e: Entry, err: Error): void;
}

const RELEASED = Buffer.alloc(0);
const ignore = (): void => {};

/**
 * One held message. It is its own confirm callback on the channel (no promise or closure per write): the
 * channel calls `resolve()` on the broker's ack and `reject()` on a nack or when it closes.
 */
export class Entry implements OutgoingMessage, PendingConfirm {
  state = QUEUED;
  /** Index in the in-flight list while `IN_FLIGHT`. */
  slot = -1;
  /** Write number on the channel it is in flight on (from 1, in write order). */
  seq = 0;
  nacks = 0;
  /** Among the messages in flight when a channel closed for a reason that named none: sent alone until cleared. */
  suspect = false;
  returned: ReturnedMessage | undefined = undefined;
  /** When its publish() gives up (epoch ms), and the timeout that made it, for the error message. */
  deadline = 0;
  timeoutMs = 0;
  /**
   * Its publish() already rejected (timed out or aborted) while it was in flight: it stays held until the
   * broker answers or the channel dies (the buffer's accounting stays honest), but is never written again.
   */
  abandoned = false;
  /** The caller's signal and its listener, only when one was given. */
  signal: AbortSignal | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  readonly exchange: string;
  readonly routingKey: string;
  readonly mandatory: boolean;
  /** Released (emptied) once settled, so nothing that still points at the entry pins the body. */
  body: Buffer;
  readonly bytes: number;
  readonly properties: BasicProperties;

  constructor(
    private readonly owner: EntryOwner,
    message: OutgoingMessage,
    public succeed: () => void,
    public fail: (err: Error) => void,
  ) {
    this.exchange = message.exchange;
    this.routingKey = message.routingKey;
    this.mandatory = message.mandatory;
    this.body = message.body;
    this.bytes = message.body.length;
    this.properties = message.properties;
  }

  resolve(): void {
    this.owner.confirmed(this);
  }

  reject(err: Error): void {
    this.owner.refused(this, err);
  }

  /** Marks it settled and lets go of the body (and of the caller's signal). */
  release(): void {
    this.state = DONE;
    this.body = RELEASED;
    this.returned = undefined;
    this.unlisten();
  }

  /** Stops listening to the caller's signal. */
  unlisten(): void {
    if (this.onAbort === undefined) return;
    this.signal?.removeEventListener('abort', this.onAbort);
    this.signal = undefined;
    this.onAbort = undefined;
  }

  /** Rejects its publish() now with `err`; whatever the broker says later is not passed on. */
  abandon(err: Error): void {
    this.abandoned = true;
    this.unlisten();
    const fail = this.fail;
    this.succeed = ignore;
    this.fail = ignore;
    fail(err);
  }
}
