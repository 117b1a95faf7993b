import type { ReturnedMessage } from '../../connection/channel.js';
import { type Entry, IN_FLIGHT, QUEUED } from './entry.js';

/** Below this many dead slots the list is not worth compacting. */
const COMPACT_MIN_DEAD = 1024;

/**
 * The messages written on one channel and not yet settled, in write order, plus what the broker's
 * answers prove about how far it got.
 *
 * A settled entry leaves its slot at once, wherever it is (confirms of different queues arrive out of
 * order): the slot is cleared, and the list is compacted once dead slots outnumber live ones, so what is
 * kept is proportional to what is unsettled and each write costs O(1) amortized.
 *
 * The broker handles one channel's publishes in order and answers each (ack, nack, return) only after
 * handling it; so an answer for write N proves writes 1..N were all handled: {@link processedUpTo}.
 */
export class InflightList {
  private slots: (Entry | null)[] = [];
  private head = 0;
  private live = 0;
  private nextSeq = 1;
  /** Slot after the last returned entry: returns come in write order, so no earlier entry can be returned. */
  private returnCursor = 0;
  /** Highest write number the broker answered for: it handled every write up to here. */
  processedUpTo = 0;

  /** Entries in flight. */
  get size(): number {
    return this.live;
  }

  /** Slots the list's array holds: live ones, cleared ones not compacted away yet, and those before `head`. */
  get retained(): number {
    return this.slots.length;
  }

  /** Calls `fn` with every entry in flight, in write order. */
  forEach(fn: (e: Entry) => void): void {
    const slots = this.slots;
    for (let i = this.head; i < slots.length; i++) {
      const e = slots[i];
      if (e !== null && e !== undefined) fn(e);
    }
  }

  add(e: Entry): void {
    e.state = IN_FLIGHT;
    e.seq = this.nextSeq++;
    e.slot = this.slots.length;
    this.slots.push(e);
    this.live++;
  }

  /** Takes `e` out (settled or parked); `answered` when the broker's answer for it is what took it out. */
  remove(e: Entry, answered: boolean): void {
    if (answered && e.seq > this.processedUpTo) this.processedUpTo = e.seq;
    this.slots[e.slot] = null;
    e.slot = -1;
    this.live--;
    const slots = this.slots;
    if (this.live === 0) {
      slots.length = 0; // truncate in place: no new array per drained burst
      this.head = 0;
      this.returnCursor = 0;
      return;
    }
    while (slots[this.head] === null) this.head++;
    // Dead: every slot that is not live, the settled ones before `head` included (in-order confirms
    // leave all of theirs there; a window that never drains would otherwise grow its array forever).
    const dead = slots.length - this.live;
    if (dead > COMPACT_MIN_DEAD && dead > this.live) this.compact();
  }

  /** Every entry still in flight, in write order, marked queued again; the list is left empty. */
  drain(): Entry[] {
    const out: Entry[] = [];
    for (let i = this.head; i < this.slots.length; i++) {
      const e = this.slots[i];
      if (e === null || e === undefined) continue;
      e.state = QUEUED;
      e.slot = -1;
      out.push(e);
    }
    this.slots = [];
    this.head = 0;
    this.live = 0;
    this.returnCursor = 0;
    return out;
  }

  /**
   * The entry a basic.return belongs to, marked returned; undefined when none fits.
   *
   * It is a mandatory publish to the returned exchange and routing key, not returned or answered yet
   * and written after the last write the broker answered (the return precedes its own publish's ack,
   * and every answer for a later write). Among those the oldest wins, unless a later one has the very
   * body (and, failing that, also the messageId) that came back: a headers exchange routes by headers,
   * so an older publish with the same exchange and key may have been routed and merely await its
   * confirm. The messageId only breaks ties: users may reuse one. `trustAnswers` is false while a
   * replaced channel may still confirm messages written again here, which makes `processedUpTo` moot.
   */
  matchReturn(returned: ReturnedMessage, trustAnswers: boolean): Entry | undefined {
    const after = trustAnswers ? this.processedUpTo : 0;
    const slots = this.slots;
    const id = returned.properties.messageId;
    let first = -1;
    let sameBody = -1;
    let match = -1;
    for (let i = Math.max(this.returnCursor, this.head); i < slots.length; i++) {
      const e = slots[i];
      if (
        e === null ||
        e === undefined ||
        e.seq <= after ||
        !e.mandatory ||
        e.returned !== undefined ||
        e.exchange !== returned.exchange ||
        e.routingKey !== returned.routingKey
      )
        continue;
      if (first < 0) first = i;
      if (!e.body.equals(returned.body)) continue;
      if (sameBody < 0) sameBody = i;
      if (e.properties.messageId === id) {
        match = i;
        break;
      }
    }
    if (match < 0) match = sameBody >= 0 ? sameBody : first;
    if (match < 0) return undefined;
    const e = slots[match]!;
    e.returned = returned;
    this.returnCursor = match + 1;
    if (e.seq > this.processedUpTo) this.processedUpTo = e.seq;
    return e;
  }

  private compact(): void {
    const old = this.slots;
    const slots: Entry[] = [];
    let cursor = 0;
    for (let i = this.head; i < old.length; i++) {
      const e = old[i];
      if (e === null || e === undefined) continue;
      if (i < this.returnCursor) cursor = slots.length + 1;
      e.slot = slots.length;
      slots.push(e);
    }
    this.slots = slots;
    this.head = 0;
    this.returnCursor = cursor;
  }
}
