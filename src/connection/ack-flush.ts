import type { FrameOutput } from './frame-output.js';

/**
 * Longest an absorbed ack waits before it is written. Long enough that a busy consumer's acks from several
 * socket reads share one write (each write to the broker costs a syscall and, on loopback, the broker's
 * receive path too), short enough that nobody waiting on the broker notices.
 */
export const ACK_FLUSH_DELAY_MS = 1;

/**
 * Decides when a channel's coalesced ack (see {@link AckCoalescer}) is written.
 *
 * Acks are fire-and-forget, so holding one back briefly changes nothing for the consumer, with one
 * exception: the broker sends no more than the prefetch window of unacknowledged messages. Once half the
 * smallest window set on the channel is owed, the ack goes out with this tick's frames instead of waiting
 * for the timer, so the broker never stalls on an ack that was only being held back. The channel still
 * writes owed acks before any other frame it sends and before it or its connection closes.
 */
export class AckFlush {
  private timer: NodeJS.Timeout | undefined;
  private tickQueued = false;
  /** The smallest non-zero prefetch count set on the channel; 0 while there is none (no limit). */
  private window = 0;

  constructor(
    private readonly output: FrameOutput,
    /** Writes the owed ack, if any. */
    private readonly writeOwed: () => void,
  ) {}

  /** basic.qos took effect with this prefetch count. */
  prefetchSet(count: number): void {
    if (count > 0) this.window = this.window === 0 ? count : Math.min(this.window, count);
  }

  /** `owed` in-order acks are now waiting to be written. */
  schedule(owed: number): void {
    if (this.tickQueued) return;
    if (this.window > 0 && owed * 2 >= this.window) {
      this.tickQueued = true;
      this.output.beforeFlush(this.run);
    } else if (this.timer === undefined) {
      this.timer = setTimeout(this.run, ACK_FLUSH_DELAY_MS);
    }
  }

  /** The owed ack was written some other way (before another frame, or before a close). */
  written(): void {
    this.cancel();
  }

  /** Drops any scheduled write (the channel closed). */
  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.tickQueued = false;
  }

  private readonly run = (): void => {
    // A tick flush and the timer may both be pending; the first to run writes, the other finds nothing owed.
    this.cancel();
    this.writeOwed();
  };
}
