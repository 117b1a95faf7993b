import type { Duplex } from 'node:stream';
import { BufferWriter } from '../protocol/writer.js';

/**
 * The outgoing side of a connection: frames are encoded into one shared {@link BufferWriter} and
 * written to the stream once per tick, so a burst of publishes, acks and heartbeats costs one write.
 * When the stream's buffer is full (`write` returned false), {@link waitForDrain} lets callers hold
 * back until it drains instead of growing memory without bound.
 *
 * Ordering invariant: bytes reach the stream in the order they were encoded into {@link writer}. Every
 * write path keeps it, which is what keeps each channel's frames in the order they were issued.
 */
export class FrameOutput {
  readonly writer = new BufferWriter();
  /** Incremented on every flush; the heartbeat timer reads it to know whether anything was sent. */
  writes = 0;
  private flushQueued = false;
  private beforeFlushHooks: Array<() => void> = [];
  private drainWaiters: Array<{ resolve(): void; reject(err: Error): void }> = [];
  private full = false;
  private closed = false;

  constructor(private readonly stream: Duplex) {
    stream.on('drain', this.onDrain);
  }

  /** True while the stream has more buffered than its high-water mark. */
  get needsDrain(): boolean {
    return this.full;
  }

  /** Runs `hook` once, just before the next flush encodes its last frames (and schedules that flush). */
  beforeFlush(hook: () => void): void {
    this.beforeFlushHooks.push(hook);
    this.flushSoon();
  }

  /** Schedules a write of everything encoded so far, at the end of this tick. */
  flushSoon(): void {
    if (this.flushQueued || this.closed) return;
    this.flushQueued = true;
    process.nextTick(this.flush);
  }

  /** Writes everything encoded so far, now. */
  readonly flush = (): void => {
    this.flushQueued = false;
    if (this.closed) return;
    if (this.beforeFlushHooks.length > 0) {
      const hooks = this.beforeFlushHooks;
      this.beforeFlushHooks = [];
      for (const hook of hooks) hook();
    }
    const bytes = this.writer.take();
    if (bytes === null) return;
    this.writes++;
    if (!this.stream.write(bytes)) this.full = true;
  };

  /**
   * Writes chunks taken from {@link writer} (a body too large to copy, with the frames encoded before it),
   * now. The chunks hold every byte encoded before them, so they go out first; `beforeFlush` hooks are not
   * run here: what they encode comes after the chunks and goes with the flush already scheduled. Running
   * them first would put their frames (a coalesced ack) ahead of earlier ones (a nack in the chunks).
   */
  writeChunks(chunks: Buffer[]): void {
    if (this.closed) return;
    this.stream.cork();
    for (const c of chunks) if (!this.stream.write(c)) this.full = true;
    this.writes++;
    process.nextTick(() => this.stream.uncork());
  }

  /**
   * Resolves once the stream has drained (at once if it is not full); rejects when the output is closed
   * with a failure first (see {@link close}).
   */
  waitForDrain(): Promise<void> {
    if (!this.full || this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => this.drainWaiters.push({ resolve, reject }));
  }

  /**
   * Stops writing and releases everyone waiting for a drain: they resolve when the close is clean (the
   * peer confirmed it, so it read everything written before), and reject with `failure` otherwise (what
   * they wrote may never have left this process).
   */
  close(failure?: Error): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.stream.removeListener('drain', this.onDrain);
    this.full = false;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) {
      if (failure) w.reject(failure);
      else w.resolve();
    }
  }

  private readonly onDrain = (): void => {
    this.full = false;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w.resolve();
  };
}
