import type { Channel, ReturnedMessage } from '../connection/channel.js';
import { ChannelError, EncodeError, WarrenError } from '../protocol/errors.js';
import {
  AbortedError,
  MessageTooLargeError,
  PublishNackedError,
  PublishTimeoutError,
  UnroutableError,
} from './errors.js';
import { PublishCounters } from './observe/stats.js';
import { blamesPublishes, namedCulprits } from './publish/culprits.js';
import { DONE, Entry, type EntryOwner, IN_FLIGHT, type OutgoingMessage, PARKED, QUEUED } from './publish/entry.js';
import { InflightList } from './publish/inflight.js';
import { checkTimeout } from './session/deadline.js';

export type { OutgoingMessage } from './publish/entry.js';

/** Limits of the publish buffer. */
export interface PublishBufferOptions {
  /** Most messages held (waiting to be written or confirmed). Default 10 000. */
  maxBufferedMessages?: number;
  /** Most body bytes held. Default 64 MiB. */
  maxBufferedBytes?: number;
  /**
   * The deadline of every `publishMessage` (unless the call gives its own `timeoutMs`), from the call to
   * the broker's confirm, waiting for room in a full buffer included. Past it the call rejects with
   * PublishTimeoutError (code `ERR_PUBLISH_TIMEOUT`) — during an outage, a blocked connection, a broker
   * that does not confirm — so a caller (an HTTP handler...) never waits longer. A message not written
   * yet is removed from the buffer and never sent; one already written may still reach the queue (see
   * `publishMessage`). Default 30 000 ms.
   */
  publishTimeoutMs?: number;
  /**
   * Largest message body accepted, in bytes. A larger one rejects at once with MessageTooLargeError and
   * nothing is written: the broker would close the publish channel for it. Default 16 MiB, RabbitMQ 4's
   * `max_message_size`; raise it only with the broker's limit.
   */
  maxMessageBytes?: number;
  /**
   * @deprecated Ignored. A message in flight when the broker closes the publish channel is no longer
   * charged for the close unless it is shown to be the one that caused it.
   */
  maxChannelFailures?: number;
  /**
   * How often a message the broker nacked is published again before `publishMessage` rejects with
   * PublishNackedError. RabbitMQ nacks when it could not take the message, for instance while a quorum
   * queue elects a new leader after a node failure, or while a `reject-publish` queue is full; retries
   * wait 100 ms, doubling up to 2 s. Default 10 (about 12 s in all); 0 makes a nack final at once.
   */
  maxNackRetries?: number;
}

/** Where {@link captureResolvers} leaves the resolvers of the promise it was the executor of. */
const captured: { resolve: () => void; reject: (err: Error) => void } = { resolve: () => {}, reject: () => {} };
const captureResolvers = (resolve: () => void, reject: (err: Error) => void): void => {
  captured.resolve = resolve;
  captured.reject = reject;
};

/** RabbitMQ 4's default `max_message_size`. */
const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Most exchanges (and user_id values) remembered as proven; past that the memory starts over. */
const MAX_PROVEN = 10_000;

/** First wait before republishing nacked messages; it doubles per retry of the same message. */
const NACK_RETRY_BASE_MS = 100;
const NACK_RETRY_MAX_MS = 2000;

interface RoomWaiter {
  bytes: number;
  resolve(): void;
  reject(err: Error): void;
  deadline: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * Deadlines are checked by one timer for the whole buffer, at most this often: a burst of publishes that
 * time out over a second costs a few sweeps, not one per message. A publish rejects up to this much late.
 */
const SWEEP_SLACK_MS = 20;

/**
 * Confirmed publishing that loses nothing across channel and connection failures.
 *
 * Every message is held from `publish()` until the broker confirms it. Messages wait in a FIFO while
 * there is no usable channel (disconnected, blocked); once written they are in flight. When the channel
 * dies, everything in flight goes back to the front of the FIFO, in order, and is written again on the
 * next channel: at-least-once, duplicates possible (same messageId), loss not. What is held is bounded
 * in messages and bytes; a publish that finds no room waits up to `publishTimeoutMs`, then rejects.
 *
 * When the broker closes the channel over a publish (a missing exchange, a wrong user_id...), only the
 * message that caused it is rejected, with the broker's error. The publisher finds it from what the close
 * names; when the close names nothing, the messages that may have caused it (written after the last one
 * the broker answered for) are written again one at a time, each alone on the channel until confirmed,
 * until the one that closes the channel shows itself; then writing is pipelined again.
 */
export class Publisher implements EntryOwner {
  private queue: (Entry | undefined)[] = [];
  private queueHead = 0;
  private inflight = new InflightList();
  private held = 0;
  private heldBytes = 0;
  /** Room promised to woken waiters whose publish() has not resumed yet. */
  private reserved = 0;
  private reservedBytes = 0;
  private roomWaiters: RoomWaiter[] = [];
  private channel: Channel | null = null;
  /** Removes the listeners put on the attached channel. */
  private unhook: (() => void) | null = null;
  private paused = false;
  private closedWith: Error | null = null;
  private idleWaiters: Array<() => void> = [];
  /** Unsettled entries marked suspect. */
  private suspects = 0;
  /** The message written alone on the channel, awaiting its confirm; nothing else is written meanwhile. */
  private isolating: Entry | null = null;
  /** Exchanges, and user_id values, the broker has taken a publish for (see {@link goesAlone}). */
  private readonly provenExchanges = new Set<string>(['']);
  private readonly provenUserIds = new Set<string>();
  /**
   * Detached channels still open (replaced ones): their late confirms may settle messages written again
   * on the current channel, so confirms prove nothing about how far the current channel got.
   */
  private lateConfirmers = 0;
  private readonly maxMessages: number;
  private readonly maxBytes: number;
  private readonly maxMessageBytes: number;
  private readonly publishTimeoutMs: number;
  private readonly maxNackRetries: number;
  private nackedWaiting: Entry[] = [];
  /** The one deadline timer of the buffer, and when it fires (Infinity: not armed). */
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweepAt = Number.POSITIVE_INFINITY;
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
  /** Running totals for `mq.stats()`. */
  readonly counters = new PublishCounters();

  constructor(options: PublishBufferOptions = {}) {
    this.maxMessages = options.maxBufferedMessages ?? 10_000;
    this.maxBytes = options.maxBufferedBytes ?? 64 * 1024 * 1024;
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.publishTimeoutMs = options.publishTimeoutMs ?? 30_000;
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
    return this.inflight.size;
  }

  /** @internal Queue slots kept (waiting entries and settled ones not yet passed over), for memory tests. */
  get retainedQueued(): number {
    return this.queue.length - this.queueHead + this.nackedWaiting.length;
  }

  /** @internal Slots the in-flight list keeps (live and not yet compacted away), for memory tests. */
  get retainedSlots(): number {
    return this.inflight.retained;
  }

  /**
   * Resolves once the broker confirmed the message; rejects on nack, return, timeout, abort or close.
   * `timeoutMs` (default `publishTimeoutMs`) bounds the whole call; `signal` aborts it (AbortedError).
   */
  publish(message: OutgoingMessage, timeoutMs?: number, signal?: AbortSignal): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const bytes = message.body.length;
    if (bytes > this.maxMessageBytes) return Promise.reject(new MessageTooLargeError(bytes, this.maxMessageBytes));
    if (timeoutMs !== undefined) {
      try {
        checkTimeout('publishMessage', timeoutMs);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    if (signal?.aborted) return Promise.reject(new AbortedError('publishMessage', signal.reason));
    const ms = timeoutMs ?? this.publishTimeoutMs;
    const deadline = Date.now() + ms;
    if (this.hasRoom(bytes)) return this.enqueue(message, deadline, ms, signal);
    return this.waitForRoom(bytes, deadline, signal).then(() => {
      this.reserved--;
      this.reservedBytes -= bytes;
      if (this.closedWith) throw this.closedWith;
      if (signal?.aborted) throw new AbortedError('publishMessage', signal.reason);
      return this.enqueue(message, deadline, ms, signal);
    });
  }

  private enqueue(
    message: OutgoingMessage,
    deadline: number,
    ms: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    // The executor is one shared function, not a closure per message: it hands the resolvers over here.
    const promise = new Promise<void>(captureResolvers);
    const e = new Entry(this, message, captured.resolve, captured.reject);
    try {
      this.admit(e, deadline, ms, signal);
    } catch (err) {
      e.fail(err as Error); // as a throw inside a promise executor would
    }
    return promise;
  }

  /** Takes `e` into the buffer, and writes it now when nothing stands in its way. */
  private admit(e: Entry, deadline: number, ms: number, signal: AbortSignal | undefined): void {
    this.held++;
    this.heldBytes += e.bytes;
    this.counters.published++;
    e.deadline = deadline;
    e.timeoutMs = ms;
    // One timer for the whole buffer: armed only when this deadline is the earliest (normally it is not).
    if (deadline < this.sweepAt) this.armSweep(deadline);
    if (signal !== undefined) {
      e.signal = signal;
      e.onAbort = () => this.giveUp(e, new AbortedError('publishMessage', signal.reason));
      signal.addEventListener('abort', e.onAbort, { once: true });
    }
    const channel = this.channel;
    // The common case writes at once, without a trip through the queue.
    if (
      channel !== null &&
      this.queueHead === this.queue.length &&
      this.isolating === null &&
      this.suspects === 0 &&
      !this.paused &&
      !this.goesAlone(e)
    ) {
      if (this.write(channel, e)) return;
    }
    this.queue.push(e);
    this.pump();
  }

  /**
   * Starts writing on `channel` (in confirm mode), beginning with whatever was held. A channel attached
   * before and not detached is detached first (its unconfirmed messages are written again here).
   */
  attach(channel: Channel): void {
    if (this.channel === channel) return;
    if (this.channel !== null)
      this.detach(new WarrenError('publish channel replaced', { code: 'ERR_CHANNEL_REPLACED' }));
    this.channel = channel;
    const onReturn = (returned: ReturnedMessage): void => {
      if (this.channel === channel) this.inflight.matchReturn(returned, this.lateConfirmers === 0);
    };
    // The owner normally detaches a closed channel itself; this makes sure nothing stays stranded in flight.
    const onClose = (err: Error | undefined): void => {
      if (this.channel === channel)
        this.detach(err ?? new ChannelError('the publish channel was closed', { code: 'ERR_CHANNEL_CLOSED' }));
    };
    channel.on('return', onReturn);
    channel.on('close', onClose);
    this.unhook = () => {
      channel.off('return', onReturn);
      channel.off('close', onClose);
    };
    this.pump();
  }

  /**
   * The channel is gone (`cause` says why): everything in flight goes back to the front of the queue,
   * except the message that made the broker close the channel, which rejects with `cause`.
   */
  detach(cause: Error): void {
    const channel = this.channel;
    if (channel === null) return;
    this.channel = null;
    this.unhook?.();
    this.unhook = null;
    if (channel.isOpen) this.expectLateConfirms(channel);
    const list = this.inflight;
    const processedUpTo = this.lateConfirmers === 0 ? list.processedUpTo : 0;
    this.inflight = new InflightList();
    const live = list.drain();
    const alone = this.isolating;
    this.isolating = null;
    if (live.length > 0 && blamesPublishes(cause)) this.charge(live, cause, alone, processedUpTo);
    const retry: (Entry | undefined)[] = [];
    for (const e of live) {
      if (e.state === DONE) continue;
      // Its caller gave up and was told so: it is not written again, and leaves the buffer now.
      if (e.abandoned) {
        this.settle(e, undefined);
        continue;
      }
      e.returned = undefined;
      retry.push(e);
    }
    this.queue = retry.concat(this.queue.slice(this.queueHead));
    this.queueHead = 0;
  }

  /**
   * Rejects the message(s) in `live` that made the broker close the channel with `cause`; when that
   * cannot be told yet, marks the ones that may have (those written after the last one the broker
   * answered for: it handles a channel's publishes in order) as suspects, to be written alone.
   */
  private charge(live: Entry[], cause: ChannelError, alone: Entry | null, processedUpTo: number): void {
    const candidates = live.filter((e) => e.seq > processedUpTo);
    const named = namedCulprits(cause);
    if (named !== undefined) {
      let culprits = candidates.filter(named);
      // Named but answered for (the broker's order of answers was not what it should be): still the one.
      if (culprits.length === 0) culprits = live.filter(named);
      if (culprits.length > 0) {
        for (const e of culprits) {
          this.unproven(e);
          this.settle(e, cause);
        }
        return;
      }
    }
    if (alone !== null && live.length === 1 && live[0] === alone && alone.suspect) {
      // Suspected by an earlier close, then alone on the channel when it closed again: proven. Whatever
      // else was suspected goes back to pipelining. One close while alone is not enough: the channel may
      // have closed for a reason of its own (a queue's crash reported on it), and a message sent alone only
      // because its exchange was new would be charged for it.
      this.unproven(alone);
      this.settle(alone, cause);
      this.clearSuspects();
      return;
    }
    // Not proof enough even when only one message is left: it goes out alone and shows itself.
    for (const e of candidates.length > 0 ? candidates : live) this.markSuspect(e);
  }

  /**
   * Whether `e` must be written alone (after everything in flight is confirmed, with nothing after it
   * until it is): a suspect, or a publish the broker may refuse by closing the channel that nothing
   * proved safe yet: to an exchange, or with a user_id, for which it has not taken a publish before.
   * A poison message written among others makes the broker drop everything written after it and lose
   * the confirms of everything before it still unconfirmed, which must then be written again
   * (duplicates); alone, it takes nothing down with it. This costs one round trip per new exchange.
   */
  private goesAlone(e: Entry): boolean {
    if (e.suspect) return true;
    const userId = e.properties.userId;
    return !this.provenExchanges.has(e.exchange) || (userId !== undefined && !this.provenUserIds.has(userId));
  }

  /** The broker took `e` (acked or nacked it) without closing the channel. */
  private proven(e: Entry): void {
    const known = this.provenExchanges;
    if (!known.has(e.exchange)) {
      if (known.size >= MAX_PROVEN) {
        known.clear();
        known.add(''); // the default exchange always exists
      }
      known.add(e.exchange);
    }
    const userId = e.properties.userId;
    if (userId !== undefined && !this.provenUserIds.has(userId)) {
      if (this.provenUserIds.size >= MAX_PROVEN) this.provenUserIds.clear();
      this.provenUserIds.add(userId);
    }
  }

  /** `e` closed the channel: what it was sent with is not proven safe any more. */
  private unproven(e: Entry): void {
    if (e.exchange !== '') this.provenExchanges.delete(e.exchange);
    if (e.properties.userId !== undefined) this.provenUserIds.delete(e.properties.userId);
  }

  private markSuspect(e: Entry): void {
    if (e.suspect) return;
    e.suspect = true;
    this.suspects++;
  }

  private clearSuspect(e: Entry): void {
    if (!e.suspect) return;
    e.suspect = false;
    this.suspects--;
  }

  private clearSuspects(): void {
    if (this.suspects === 0) return;
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const e = this.queue[i];
      if (e !== undefined) this.clearSuspect(e);
    }
    for (const e of this.nackedWaiting) this.clearSuspect(e);
  }

  /** `channel` was detached while still open: until it closes, its confirms may be late ones. */
  private expectLateConfirms(channel: Channel): void {
    this.lateConfirmers++;
    const closed = (): void => {
      channel.off('close', closed);
      this.lateConfirmers--;
    };
    channel.on('close', closed);
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
    this.unhook?.();
    this.unhook = null;
    this.channel = null;
    this.isolating = null;
    clearTimeout(this.nackTimer);
    this.nackTimer = undefined;
    const entries = [...this.nackedWaiting, ...this.inflight.drain(), ...this.queue.slice(this.queueHead)];
    this.nackedWaiting = [];
    this.inflight = new InflightList();
    this.queue = [];
    this.queueHead = 0;
    for (const e of entries) if (e !== undefined && e.state !== DONE) this.settle(e, err);
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const w of waiters) {
      unlistenWaiter(w);
      w.reject(err);
    }
    clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    this.sweepAt = Number.POSITIVE_INFINITY;
  }

  /**
   * The publish of `e` is given up (deadline or abort). Not written yet (queued, or parked after a nack):
   * it leaves the buffer and is never sent. In flight: its promise rejects now, but it stays held until
   * the broker answers for it or the channel dies, since the broker may still take it.
   */
  private giveUp(e: Entry, err: Error): void {
    if (e.state === DONE || e.abandoned) return;
    if (e.state === IN_FLIGHT) e.abandon(err);
    else this.settle(e, err);
  }

  private armSweep(at: number): void {
    clearTimeout(this.sweepTimer);
    this.sweepAt = at;
    this.sweepTimer = setTimeout(this.sweep, Math.max(0, at - Date.now()));
    // It never keeps the process alive on its own: the connection (or the reconnect loop) does that.
    this.sweepTimer.unref();
  }

  /** Fails every publish past its deadline, then sleeps until the next deadline (or for good, if none). */
  private readonly sweep = (): void => {
    this.sweepTimer = undefined;
    this.sweepAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    const check = (e: Entry | undefined): void => {
      if (e === undefined || e.state === DONE || e.abandoned) return;
      if (e.deadline <= now) this.giveUp(e, this.timeoutError(e));
      else if (e.deadline < next) next = e.deadline;
    };
    this.inflight.forEach(check);
    for (const e of this.nackedWaiting) check(e);
    const queue = this.queue;
    let dead = 0;
    for (let i = this.queueHead; i < queue.length; i++) {
      const e = queue[i];
      check(e);
      if (e === undefined || e.state === DONE) dead++;
    }
    // What timed out or was aborted while waiting is settled but still in place: let go of it, or a long
    // outage would keep one dead entry per publish made during it.
    if (this.nackedWaiting.length > 0) this.nackedWaiting = this.nackedWaiting.filter((e) => e.state !== DONE);
    if (dead > 0) {
      this.queue = queue.slice(this.queueHead).filter((e) => e !== undefined && e.state !== DONE);
      this.queueHead = 0;
    }
    if (this.roomWaiters.length > 0) {
      const expired = this.roomWaiters.filter((w) => w.deadline <= now);
      if (expired.length > 0) {
        this.roomWaiters = this.roomWaiters.filter((w) => w.deadline > now);
        for (const w of expired) {
          unlistenWaiter(w);
          w.reject(this.bufferFullError());
        }
        this.wakeRoomWaiters();
      }
      for (const w of this.roomWaiters) if (w.deadline < next) next = w.deadline;
    }
    if (next !== Number.POSITIVE_INFINITY && next < this.sweepAt) this.armSweep(Math.max(next, now + SWEEP_SLACK_MS));
  };

  private timeoutError(e: Entry): PublishTimeoutError {
    const where =
      e.state === IN_FLIGHT
        ? 'written, but the broker did not confirm it in time; it may still reach the queue (same messageId)'
        : `not written in time (${this.channel === null ? 'no connection' : this.paused ? 'the connection is blocked' : 'waiting behind others'}): removed from the buffer, it will not be sent`;
    return new PublishTimeoutError(`publish not confirmed within ${e.timeoutMs} ms: ${where}`);
  }

  private bufferFullError(): PublishTimeoutError {
    return new PublishTimeoutError(
      `publish buffer full for ${this.publishTimeoutMs} ms (${this.held} messages, ${this.heldBytes} bytes held; limits ${this.maxMessages} messages, ${this.maxBytes} bytes): the broker is unreachable or not confirming`,
    );
  }

  /** Accepts publishes again after {@link close}. */
  reopen(): void {
    this.closedWith = null;
  }

  private pump(): void {
    const channel = this.channel;
    if (channel === null || this.paused || this.isolating !== null) return;
    const queue = this.queue;
    while (this.queueHead < queue.length && channel.isOpen) {
      const e = queue[this.queueHead]!;
      let alone = false;
      if (e.state !== DONE) {
        // Alone on the channel: if it closes now, this message closed it, and nothing else was in flight.
        alone = this.goesAlone(e);
        if (alone && this.inflight.size > 0) break;
        if (!this.write(channel, e)) break; // the channel is going away: retry on the next one
        if (this.queue !== queue) return; // detached meanwhile: the queue was rebuilt
      }
      // Written now, or done already (confirmed by a replaced channel after it was put back in the queue).
      queue[this.queueHead++] = undefined;
      if (alone && e.state === IN_FLIGHT) {
        this.isolating = e;
        break;
      }
    }
    if (this.queueHead === queue.length) {
      queue.length = 0;
      this.queueHead = 0;
    } else if (this.queueHead > 1024 && this.queueHead * 2 > queue.length) {
      this.queue = queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  /**
   * Writes `e` on `channel`; false when the channel refused it (closing: `e` is untouched, to be written
   * on the next one). A message the protocol cannot carry (a header of an unsupported type...) is final.
   */
  private write(channel: Channel, e: Entry): boolean {
    try {
      // The entry is its own PublishOptions (exchange, routingKey, mandatory): no object per write.
      channel.publishConfirmed(e, e.body, e.properties, e);
    } catch (err) {
      if (!(err instanceof EncodeError)) return false;
      this.settle(e, err);
      return true;
    }
    this.inflight.add(e);
    return true;
  }

  /** @internal The broker acked `e` (perhaps on a channel replaced since: still the broker's word). */
  confirmed(e: Entry): void {
    if (e.state === DONE) return;
    this.proven(e);
    const returned = e.returned;
    this.settle(
      e,
      returned ? new UnroutableError(e.exchange, e.routingKey, returned.replyCode, returned.replyText) : undefined,
    );
  }

  /** @internal The broker nacked `e`, or its channel closed (then detach() puts it back in the queue). */
  refused(e: Entry, err: Error): void {
    if (e.state !== IN_FLIGHT || !(err instanceof WarrenError && err.code === 'ERR_PUBLISH_NACKED')) return;
    // The broker handled it without closing the channel: whatever it is, it is not the culprit.
    this.proven(e);
    if (e.abandoned) {
      this.settle(e, undefined); // its caller gave up already: not retried
      return;
    }
    if (e.nacks >= this.maxNackRetries) {
      this.settle(e, new PublishNackedError(e.exchange, e.routingKey, e.nacks + 1));
      return;
    }
    e.nacks++;
    this.clearSuspect(e);
    e.state = PARKED;
    this.leaveInflight(e);
    e.returned = undefined;
    this.nackedWaiting.push(e);
    if (this.nackTimer === undefined) {
      const delay = Math.min(NACK_RETRY_BASE_MS * 2 ** (e.nacks - 1), NACK_RETRY_MAX_MS);
      this.nackTimer = setTimeout(this.republishNacked, delay);
    }
    // Last: the owner may replace (detach) the channel right away, and `e` must be parked by then.
    const channel = this.channel;
    if (e.nacks >= 2 && channel !== null && this.reportedChannel !== channel) {
      this.reportedChannel = channel;
      this.onNackingChannel?.(channel);
    }
  }

  /** Nacked messages go back to the front of the queue (they are older than anything queued). */
  private readonly republishNacked = (): void => {
    this.nackTimer = undefined;
    const again: Entry[] = [];
    for (const e of this.nackedWaiting) {
      if (e.state !== PARKED) continue; // settled meanwhile by a late confirm
      e.state = QUEUED;
      again.push(e);
    }
    this.nackedWaiting = [];
    this.queue = (again as (Entry | undefined)[]).concat(this.queue.slice(this.queueHead));
    this.queueHead = 0;
    this.pump();
  };

  /** Takes an in-flight `e` out of the in-flight list; writing goes on if it was what writing waited for. */
  private leaveInflight(e: Entry): void {
    this.inflight.remove(e, this.lateConfirmers === 0);
    if (this.isolating === e) {
      this.isolating = null;
      this.pump();
    } else if (this.inflight.size === 0 && this.queueHead < this.queue.length) {
      this.pump(); // a message waiting to go alone may go now
    }
  }

  private settle(e: Entry, err: Error | undefined): void {
    if (e.state === IN_FLIGHT) {
      // Confirmed alone on the channel: the broker took it, so it was not the culprit.
      this.clearSuspect(e);
      e.state = DONE;
      this.leaveInflight(e);
    } else {
      this.clearSuspect(e);
    }
    this.held--;
    this.heldBytes -= e.bytes;
    e.release();
    this.counters.settled(err);
    if (err) e.fail(err);
    else e.succeed();
    this.wakeRoomWaiters();
    if (this.held === 0) {
      const idle = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of idle) w();
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

  private waitForRoom(bytes: number, deadline: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter: RoomWaiter = { bytes, resolve, reject, deadline, signal, onAbort: undefined };
      if (signal !== undefined) {
        waiter.onAbort = () => {
          if (!this.roomWaiters.includes(waiter)) return;
          this.roomWaiters = this.roomWaiters.filter((w) => w !== waiter);
          reject(new AbortedError('publishMessage', signal.reason));
          this.wakeRoomWaiters();
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.roomWaiters.push(waiter);
      if (deadline < this.sweepAt) this.armSweep(deadline);
    });
  }

  private wakeRoomWaiters(): void {
    while (this.roomWaiters.length > 0 && this.fits(this.roomWaiters[0]!.bytes)) {
      const w = this.roomWaiters.shift()!;
      unlistenWaiter(w);
      // Reserve the room now: the waiter's publish() resumes in a later microtask.
      this.reserved++;
      this.reservedBytes += w.bytes;
      w.resolve();
    }
  }
}

function unlistenWaiter(w: RoomWaiter): void {
  if (w.onAbort !== undefined) w.signal?.removeEventListener('abort', w.onAbort);
  w.onAbort = undefined;
}
