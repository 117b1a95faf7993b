import type { FrameOutput } from './frame-output.js';

/**
 * Decides when a channel's coalesced ack (see {@link AckCoalescer}) is written.
 *
 * A busy consumer that wrote its acks with every socket read would pay, per few messages, for a socket
 * write through Node's stream machinery and, on the broker's side, for one more ack to process. Held for
 * a few ms, the acks of hundreds of deliveries go out as one frame. Acks are fire-and-forget, so holding
 * one back briefly changes nothing for the consumer (a crash in between redelivers what it had acked,
 * as at-least-once delivery allows anyway), with one exception: the broker sends no more than the prefetch window of unacknowledged messages. Once half the
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
    /** Longest an ack is held, in ms (the `ackDelay` connect option); 0 holds none past the current tick. */
    private readonly delayMs: number,
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
    if (this.delayMs === 0 || (this.window > 0 && owed * 2 >= this.window)) {
      this.tickQueued = true;
      this.output.beforeFlush(this.run);
    } else if (this.timer === undefined) {
      this.timer = setTimeout(this.run, this.delayMs);
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
