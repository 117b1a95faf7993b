import type { Channel, ReturnedMessage } from '../connection/channel.js';
import type { PendingConfirm } from '../connection/confirm-tracker.js';
import { ChannelError, EncodeError, WarrenError } from '../protocol/errors.js';
import type { BasicProperties } from '../protocol/spec.js';
import { PublishNackedError, PublishTimeoutError, UnroutableError } from './errors.js';

/** Limits of the publish buffer. */
export interface PublishBufferOptions {
  /** Most messages held (waiting to be written or confirmed). Default 10 000. */
  maxBufferedMessages?: number;
  /** Most body bytes held. Default 64 MiB. */
  maxBufferedBytes?: number;
  /** How long `publishMessage` waits for room in a full buffer before rejecting. Default 30 000 ms. */
  publishTimeoutMs?: number;
  /** How many channel failures one message may live through before it is rejected with the last one. Default 3. */
  maxChannelFailures?: number;
  /**
   * How often a message the broker nacked is published again before `publishMessage` rejects with
   * PublishNackedError. RabbitMQ nacks when it could not take the message, for instance while a quorum
   * queue elects a new leader after a node failure, or while a `reject-publish` queue is full; retries
   * wait 100 ms, doubling up to 2 s. Default 10 (about 12 s in all); 0 makes a nack final at once.
   */
  maxNackRetries?: number;
}

/** First wait before republishing nacked messages; it doubles per retry of the same message. */
const NACK_RETRY_BASE_MS = 100;
const NACK_RETRY_MAX_MS = 2000;

/** One message on its way. */
export interface OutgoingMessage {
  exchange: string;
  routingKey: string;
  mandatory: boolean;
  body: Buffer;
  properties: BasicProperties;
}

/**
 * One held message. It is its own confirm callback on the channel (no promise per write): the channel
 * calls `resolve()` on the broker's ack and `reject()` on a nack or when it closes.
 */
class Entry implements OutgoingMessage, PendingConfirm {
  done = false;
  failures = 0;
  nacks = 0;
  /** Nacked and waiting to be published again: neither queued nor in flight. */
  parked = false;
  returned: ReturnedMessage | undefined = undefined;
  readonly exchange: string;
  readonly routingKey: string;
  readonly mandatory: boolean;
  readonly body: Buffer;
  readonly properties: BasicProperties;

  constructor(
    private readonly publisher: Publisher,
    message: OutgoingMessage,
    readonly succeed: () => void,
    readonly fail: (err: Error) => void,
  ) {
    this.exchange = message.exchange;
    this.routingKey = message.routingKey;
    this.mandatory = message.mandatory;
    this.body = message.body;
    this.properties = message.properties;
  }

  resolve(): void {
    this.publisher.confirmed(this);
  }

  reject(err: Error): void {
    this.publisher.refused(this, err);
  }
}

interface RoomWaiter {
  bytes: number;
  resolve(): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * Confirmed publishing that loses nothing across channel and connection failures.
 *
 * Every message is held from `publish()` until the broker confirms it. Messages wait in a FIFO while
 * there is no usable channel (disconnected, blocked); once written they are in flight. When the channel
 * dies, everything in flight goes back to the front of the FIFO, in order, and is written again on the
 * next channel: at-least-once, duplicates possible (same messageId), loss not. What is held is bounded
 * in messages and bytes; a publish that finds no room waits up to `publishTimeoutMs`, then rejects.
 */
export class Publisher {
  private queue: Entry[] = [];
  private queueHead = 0;
  private inflight: Entry[] = [];
  private inflightHead = 0;
  private held = 0;
  private heldBytes = 0;
  /** Room promised to woken waiters whose publish() has not resumed yet. */
  private reserved = 0;
  private reservedBytes = 0;
  private roomWaiters: RoomWaiter[] = [];
  private channel: Channel | null = null;
  private paused = false;
  private closedWith: Error | null = null;
  private idleWaiters: Array<() => void> = [];
  private readonly maxMessages: number;
  private readonly maxBytes: number;
  private readonly publishTimeoutMs: number;
  private readonly maxFailures: number;
  private readonly maxNackRetries: number;
  private nackedWaiting: Entry[] = [];
  private nackTimer: NodeJS.Timeout | undefined;
  /** The attached channel was reported as one that keeps nacking (once per channel). */
  private reportedChannel: Channel | null = null;
  /**
   * Called with the attached channel when it nacks a message that it (or an earlier one) nacked before:
   * the owner should replace it. RabbitMQ 3.10 has been seen nacking every publish on a channel that first
   * published to a quorum queue while the queue had no leader (a node had just failed), long after a new
   * leader was elected, while a fresh channel on the same connection is acked at once.
   */
  onNackingChannel: ((channel: Channel) => void) | undefined;

  constructor(options: PublishBufferOptions = {}) {
    this.maxMessages = options.maxBufferedMessages ?? 10_000;
    this.maxBytes = options.maxBufferedBytes ?? 64 * 1024 * 1024;
    this.publishTimeoutMs = options.publishTimeoutMs ?? 30_000;
    this.maxFailures = options.maxChannelFailures ?? 3;
    this.maxNackRetries = options.maxNackRetries ?? 10;
  }

  /** Messages held: waiting to be written plus written and not yet confirmed. */
  get size(): number {
    return this.held;
  }

  /** Body bytes held. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** Written and awaiting the broker's confirm. */
  get inFlight(): number {
    return this.inflight.length - this.inflightHead;
  }

  /** Resolves once the broker confirmed the message; rejects on nack, return, timeout or close. */
  publish(message: OutgoingMessage): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const bytes = message.body.length;
    if (this.hasRoom(bytes)) return this.enqueue(message);
    return this.waitForRoom(bytes).then(() => {
      this.reserved--;
      this.reservedBytes -= bytes;
      if (this.closedWith) throw this.closedWith;
      return this.enqueue(message);
    });
  }

  private enqueue(message: OutgoingMessage): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.held++;
      this.heldBytes += message.body.length;
      this.queue.push(new Entry(this, message, resolve, reject));
      this.pump();
    });
  }

  /** Starts writing on `channel` (in confirm mode), beginning with whatever was held. */
  attach(channel: Channel): void {
    this.channel = channel;
    channel.on('return', this.onReturn);
    this.pump();
  }

  /**
   * The channel is gone: everything in flight goes back to the front of the queue, except messages
   * that have now lived through too many channel failures, or that `isPoisoned` says caused this one.
   */
  detach(cause: Error, isPoisoned: (m: OutgoingMessage) => boolean = () => false): void {
    const channel = this.channel;
    if (channel === null) return;
    this.channel = null;
    channel.off('return', this.onReturn);
    const live = this.inflight.slice(this.inflightHead).filter((e) => !e.done && !e.parked);
    const culprits = live.filter((e) => isPoisoned(e));
    for (const e of culprits) this.settle(e, cause);
    // A lost connection is nobody's fault. A channel error traced to its culprits is not held against the
    // others; an unexplained one counts for all, so a message that keeps killing channels ends up rejected.
    const counts = cause instanceof ChannelError && culprits.length === 0;
    const retry: Entry[] = [];
    for (const e of live) {
      if (e.done) continue;
      e.returned = undefined;
      if (counts && ++e.failures >= this.maxFailures) this.settle(e, cause);
      else retry.push(e);
    }
    this.inflight = [];
    this.inflightHead = 0;
    this.queue = retry.concat(this.queue.slice(this.queueHead));
    this.queueHead = 0;
  }

  /** Holds writes (connection.blocked); publishes keep buffering within the limits. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.pump();
  }

  /** Resolves when nothing is held, or after `timeoutMs`; returns whether everything was confirmed. */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.held === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(done);
    });
  }

  /** Rejects everything held and every waiter with `err`; later publishes reject with it too until reopened. */
  close(err: Error): void {
    this.closedWith = err;
    if (this.channel) this.channel.off('return', this.onReturn);
    this.channel = null;
    clearTimeout(this.nackTimer);
    this.nackTimer = undefined;
    const entries = [
      ...this.nackedWaiting,
      ...this.inflight.slice(this.inflightHead),
      ...this.queue.slice(this.queueHead),
    ];
    this.nackedWaiting = [];
    this.inflight = [];
    this.inflightHead = 0;
    this.queue = [];
    this.queueHead = 0;
    for (const e of entries) if (!e.done) this.settle(e, err);
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const w of waiters) {
      clearTimeout(w.timer);
      w.reject(err);
    }
  }

  /** Accepts publishes again after {@link close}. */
  reopen(): void {
    this.closedWith = null;
  }

  private pump(): void {
    const channel = this.channel;
    if (channel === null || this.paused) return;
    while (this.queueHead < this.queue.length && this.channel === channel && channel.isOpen) {
      const e = this.queue[this.queueHead]!;
      if (e.done) {
        // Confirmed by a channel that was replaced after the message had been put back in the queue.
        this.queue[this.queueHead++] = undefined as never;
        continue;
      }
      try {
        channel.publishConfirmed(
          { exchange: e.exchange, routingKey: e.routingKey, mandatory: e.mandatory },
          e.body,
          e.properties,
          e,
        );
      } catch (err) {
        if (!(err instanceof EncodeError)) break; // the channel is going away: retry on the next one
        // A message the protocol cannot carry (a header value of an unsupported type...): final.
        this.queue[this.queueHead++] = undefined as never;
        this.settle(e, err);
        continue;
      }
      this.queue[this.queueHead++] = undefined as never;
      this.inflight.push(e);
    }
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    }
  }

  /** @internal The broker acked `e`. */
  confirmed(e: Entry): void {
    if (e.done) return;
    this.settle(
      e,
      e.returned
        ? new UnroutableError(e.exchange, e.routingKey, e.returned.replyCode, e.returned.replyText)
        : undefined,
    );
  }

  /** @internal The broker nacked `e`, or its channel closed (then detach() puts it back in the queue). */
  refused(e: Entry, err: Error): void {
    if (e.done || !(err instanceof WarrenError && err.code === 'ERR_PUBLISH_NACKED')) return;
    if (e.nacks >= this.maxNackRetries) {
      this.settle(e, new PublishNackedError(e.exchange, e.routingKey, e.nacks + 1));
      return;
    }
    e.nacks++;
    const channel = this.channel;
    if (e.nacks >= 2 && channel !== null && this.reportedChannel !== channel) {
      this.reportedChannel = channel;
      this.onNackingChannel?.(channel);
    }
    e.parked = true;
    e.returned = undefined;
    this.nackedWaiting.push(e);
    this.compactInflight();
    if (this.nackTimer === undefined) {
      const delay = Math.min(NACK_RETRY_BASE_MS * 2 ** (e.nacks - 1), NACK_RETRY_MAX_MS);
      this.nackTimer = setTimeout(this.republishNacked, delay);
    }
  }

  /** Nacked messages go back to the front of the queue (they are older than anything queued). */
  private readonly republishNacked = (): void => {
    this.nackTimer = undefined;
    const again = this.nackedWaiting;
    this.nackedWaiting = [];
    for (const e of again) e.parked = false;
    this.queue = again.concat(this.queue.slice(this.queueHead));
    this.queueHead = 0;
    this.pump();
  };

  private readonly onReturn = (returned: ReturnedMessage): void => {
    const id = returned.properties.messageId;
    for (let i = this.inflightHead; i < this.inflight.length; i++) {
      const e = this.inflight[i]!;
      if (
        !e.done &&
        e.returned === undefined &&
        e.properties.messageId === id &&
        e.routingKey === returned.routingKey
      ) {
        e.returned = returned;
        return;
      }
    }
  };

  private settle(e: Entry, err: Error | undefined): void {
    e.done = true;
    this.held--;
    this.heldBytes -= e.body.length;
    this.compactInflight();
    if (err) e.fail(err);
    else e.succeed();
    this.wakeRoomWaiters();
    if (this.held === 0) {
      const idle = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of idle) w();
    }
  }

  /** Drops settled and parked entries from the head of the in-flight list. */
  private compactInflight(): void {
    while (this.inflightHead < this.inflight.length) {
      const head = this.inflight[this.inflightHead]!;
      if (!head.done && !head.parked) break;
      this.inflight[this.inflightHead++] = undefined as never;
    }
    if (this.inflightHead > 1024 && this.inflightHead * 2 > this.inflight.length) {
      this.inflight = this.inflight.slice(this.inflightHead);
      this.inflightHead = 0;
    }
  }

  private hasRoom(bytes: number): boolean {
    return this.roomWaiters.length === 0 && this.fits(bytes);
  }

  private fits(bytes: number): boolean {
    const held = this.held + this.reserved;
    const heldBytes = this.heldBytes + this.reservedBytes;
    // An oversized message still gets through when nothing else is held, so it cannot wait forever.
    return held < this.maxMessages && (heldBytes + bytes <= this.maxBytes || held === 0);
  }

  private waitForRoom(bytes: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter: RoomWaiter = {
        bytes,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.roomWaiters = this.roomWaiters.filter((w) => w !== waiter);
          reject(
            new PublishTimeoutError(
              `publish buffer full for ${this.publishTimeoutMs} ms (${this.held} messages, ${this.heldBytes} bytes held; limits ${this.maxMessages} messages, ${this.maxBytes} bytes): the broker is unreachable or not confirming`,
            ),
          );
          this.wakeRoomWaiters();
        }, this.publishTimeoutMs),
      };
      this.roomWaiters.push(waiter);
    });
  }

  private wakeRoomWaiters(): void {
    while (this.roomWaiters.length > 0 && this.fits(this.roomWaiters[0]!.bytes)) {
      const w = this.roomWaiters.shift()!;
      clearTimeout(w.timer);
      // Reserve the room now: the waiter's publish() resumes in a later microtask.
      this.reserved++;
      this.reservedBytes += w.bytes;
      w.resolve();
    }
  }
}
