import { ProtocolError } from '../protocol/errors.js';

/** What waits on one publisher confirm. */
export interface PendingConfirm {
  resolve(): void;
  reject(err: Error): void;
}

const COMPACT_AT = 4096;

/**
 * Publisher confirms of one channel. Sequence numbers are consecutive from 1, so the entry for a
 * delivery tag sits at a computed index: acks (single or `multiple`) settle in O(covered entries), and
 * the array is compacted as the settled prefix grows so memory stays flat over millions of publishes.
 */
export class ConfirmTracker {
  private entries: (PendingConfirm | null)[] = [];
  /** Sequence number of entries[0]. */
  private base = 1;
  /** Index of the oldest entry that may still be pending. */
  private head = 0;
  private outstanding = 0;

  /** Publishes not yet acked or nacked. */
  get size(): number {
    return this.outstanding;
  }

  /** Sequence number the next publish will get. */
  get nextSeq(): number {
    return this.base + this.entries.length;
  }

  /** Registers the next publish; returns its sequence number (the delivery tag the broker will confirm). */
  add(pending: PendingConfirm): number {
    this.entries.push(pending);
    this.outstanding++;
    return this.base + this.entries.length - 1;
  }

  /** Settles `tag` (and every earlier one when `multiple`); `err` set means nacked. */
  settle(tag: number, multiple: boolean, err?: Error): void {
    const index = tag - this.base;
    if (tag < 1 || index >= this.entries.length) {
      throw new ProtocolError(
        503,
        `broker confirmed delivery tag ${tag}, which was never published (last ${this.nextSeq - 1})`,
      );
    }
    if (index < 0) return; // settled and compacted already: a duplicate confirm
    const from = multiple ? this.head : index;
    for (let i = from; i <= index; i++) {
      const entry = this.entries[i];
      if (entry === null || entry === undefined) continue;
      this.entries[i] = null;
      this.outstanding--;
      if (err) entry.reject(err);
      else entry.resolve();
    }
    while (this.head < this.entries.length && this.entries[this.head] === null) this.head++;
    if (this.head >= COMPACT_AT && this.head * 2 >= this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.base += this.head;
      this.head = 0;
    }
  }

  /** Rejects everything still pending (the channel closed). */
  failAll(err: Error): void {
    const entries = this.entries;
    this.base += entries.length;
    this.entries = [];
    this.head = 0;
    this.outstanding = 0;
    for (const e of entries) e?.reject(err);
  }
}
