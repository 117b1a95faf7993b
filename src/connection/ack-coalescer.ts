/** Out-of-order settlements remembered at most; past this, coalescing stops for the channel. */
const MAX_REMEMBERED = 10_000;

/**
 * Turns runs of in-order single acks on one channel into one ack per flush.
 *
 * A consumer that acks every message individually sends the broker one frame per message. When the acked
 * tag is the lowest one still unsettled, nothing below it is outstanding, so one `basic.ack` with
 * `multiple` for the last tag of the run settles exactly the same messages. RabbitMQ refuses a multiple
 * ack whose own tag is no longer outstanding, which is why the run's last *acked* tag is sent, never the
 * settled floor. Out-of-order acks, nacks and rejects are written as they come and only recorded here.
 *
 * Only valid while every delivery tag of the channel is settled by the client: a no-ack consumer or
 * get, or basic.recover (which re-issues tags), turns it off for good.
 */
export class AckCoalescer {
  /** Every delivery tag up to this one is settled. */
  private floor = 0;
  private readonly settledAbove = new Set<number>();
  private pendingTag = 0;
  private pendingCount = 0;
  private enabled = true;

  disable(): void {
    this.enabled = false;
    this.settledAbove.clear();
  }

  /** Takes a single ack into the current run; false when it must be written as it is. */
  absorb(tag: number): boolean {
    if (!this.enabled || tag !== this.floor + 1) return false;
    this.advanceTo(tag);
    this.pendingTag = tag;
    this.pendingCount++;
    return true;
  }

  /** Records a settlement written directly (out-of-order ack, nack, reject, multiple ack). */
  settled(tag: number, multiple: boolean): void {
    if (!this.enabled || tag <= this.floor) return;
    if (multiple || tag === this.floor + 1) {
      if (multiple) for (const t of this.settledAbove) if (t <= tag) this.settledAbove.delete(t);
      this.advanceTo(tag);
    } else if (this.settledAbove.size < MAX_REMEMBERED) {
      this.settledAbove.add(tag);
    } else {
      // One message held unacked for a very long time: stop remembering rather than grow.
      this.disable();
    }
  }

  /** Acks absorbed into the current run and not yet taken. */
  get owed(): number {
    return this.pendingCount;
  }

  /** The ack owed for the current run, if any: `{ tag, multiple }`; clears it. */
  take(): { tag: number; multiple: boolean } | null {
    if (this.pendingCount === 0) return null;
    const owed = { tag: this.pendingTag, multiple: this.pendingCount > 1 };
    this.pendingCount = 0;
    this.pendingTag = 0;
    return owed;
  }

  /** The channel closed: its tags died with it. */
  reset(): void {
    this.pendingCount = 0;
    this.pendingTag = 0;
  }

  private advanceTo(tag: number): void {
    this.floor = tag;
    while (this.settledAbove.delete(this.floor + 1)) this.floor++;
  }
}
