/**
 * A consumer's deliveries from arrival to settlement: at most `concurrency` handlers at once, the rest
 * held (unstarted) in arrival order; each delivery settled once, on the channel it came from.
 * @module
 */
import { observeSettle } from '../observe/consume.js';
import type { Entry, Settle, SettleKind } from './delivery.js';

/** Taken slots at the front of the held deliveries' array worth dropping (a copy of what is left). */
const COMPACT_AFTER = 1024;

export class Deliveries {
  private waiting: Entry[] = [];
  private waitingHead = 0;
  private running = 0;
  private unsettled = 0;
  private idleWaiters: Array<() => void> = [];
  /** While true, arrivals wait (see {@link hold}). */
  private holding = false;

  constructor(
    private readonly concurrency: number,
    /** Runs one delivery through the handler and the outcome policy; `undefined` when it finished already. */
    private readonly process: (entry: Entry) => Promise<void> | undefined,
    private readonly failed: (err: unknown) => void,
    /** True once no new handler may start (stopping). */
    private readonly halted: () => boolean,
    /** What goes on the wire for a settlement (a stream queue takes only acks); default: as asked. */
    private readonly wire?: (entry: Entry, kind: SettleKind, requeue: boolean) => SettleKind,
  ) {}

  /** Received and not yet settled (running, held for a handler slot, or awaiting a republish confirm). */
  get inFlight(): number {
    return this.unsettled;
  }

  /** @internal Slots of the array that holds deliveries waiting for a handler (taken ones included). */
  get retainedWaiting(): number {
    return this.waiting.length;
  }

  /** Handlers running now. */
  get active(): number {
    return this.running;
  }

  /** A delivery arrived: run it (now or when a slot frees up), or, when not `accepted`, give it back untouched. */
  arrive(entry: Entry, accepted: boolean): void {
    this.unsettled++;
    if (!accepted) {
      this.settle(entry, 'nack', true);
      return;
    }
    if (this.running < this.concurrency && !this.holding) this.run(entry);
    else this.waiting.push(entry);
  }

  /** Holds arrivals unstarted (in order) until {@link release}. */
  hold(): void {
    this.holding = true;
  }

  /** Starts what was held, and what arrives from now on. */
  release(): void {
    this.holding = false;
    this.pump();
  }

  /** Settles a delivery once, on the channel it came from (a dead channel sends nothing). */
  readonly settle: Settle = (entry: Entry, kind: SettleKind, requeue: boolean): boolean => {
    if (entry.settled) return false;
    entry.settled = true;
    if (this.wire !== undefined) kind = this.wire(entry, kind, requeue);
    let sent = false;
    const tag = entry.delivery.deliveryTag;
    if (kind === 'ack') sent = entry.channel.basicAck(tag);
    else if (kind === 'nack') sent = entry.channel.basicNack(tag, { requeue });
    else if (kind === 'reject') sent = entry.channel.basicReject(tag, { requeue });
    observeSettle(entry, kind, requeue, sent);
    if (--this.unsettled === 0) this.wakeIdle();
    return sent;
  };

  /** Stopping: what has not started goes back to the broker. */
  requeueWaiting(): void {
    const waiting = this.waiting.slice(this.waitingHead);
    this.waiting = [];
    this.waitingHead = 0;
    for (const e of waiting) this.settle(e, 'nack', true);
  }

  /** Deliveries held for a handler slot whose channel died: the broker redelivers them. */
  dropDeadWaiting(): void {
    if (this.waitingHead === this.waiting.length) return;
    const keep: Entry[] = [];
    for (let i = this.waitingHead; i < this.waiting.length; i++) {
      const e = this.waiting[i]!;
      if (e.channel.isOpen) keep.push(e);
      else this.settle(e, 'drop', false);
    }
    this.waiting = keep;
    this.waitingHead = 0;
  }

  /** Resolves true once nothing is unsettled, false after `timeoutMs`. */
  waitIdle(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.unsettled === 0) return Promise.resolve(true);
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', giveUp);
        resolve(true);
      };
      // The deadline passed, or the stop was aborted (cut short): stop waiting, leave nothing behind.
      const giveUp = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', giveUp);
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      };
      const timer = setTimeout(giveUp, timeoutMs);
      signal?.addEventListener('abort', giveUp, { once: true });
      this.idleWaiters.push(done);
    });
  }

  private run(entry: Entry): void {
    this.running++;
    let done: Promise<void> | undefined;
    try {
      done = this.process(entry);
    } catch (err) {
      this.running--;
      this.failed(err);
      return;
    }
    // Finished synchronously: the slot is free again, and the loop that called run (pump) goes on by
    // itself (pumping from here would recurse once per held delivery).
    if (done === undefined) this.running--;
    else done.then(this.finished, this.processFailed);
  }

  // Bound once: a closure per message would be garbage per message.
  private readonly finished = (): void => {
    this.running--;
    this.pump();
  };

  private readonly processFailed = (err: unknown): void => {
    this.failed(err);
    this.finished();
  };

  private pump(): void {
    while (!this.holding && this.running < this.concurrency && this.waitingHead < this.waiting.length) {
      if (this.halted()) return;
      const entry = this.waiting[this.waitingHead]!;
      this.waiting[this.waitingHead++] = undefined as never;
      if (!entry.channel.isOpen) {
        this.settle(entry, 'drop', false);
        continue;
      }
      this.run(entry);
    }
    if (this.waitingHead === this.waiting.length) {
      this.waiting = [];
      this.waitingHead = 0;
    } else if (this.waitingHead > COMPACT_AFTER && this.waitingHead * 2 > this.waiting.length) {
      // A backlog that never drains would otherwise keep every slot ever taken.
      this.waiting = this.waiting.slice(this.waitingHead);
      this.waitingHead = 0;
    }
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
