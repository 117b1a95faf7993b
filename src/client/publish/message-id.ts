/**
 * The `messageId` publishMessage gives a message that has none: a UUIDv7 (RFC 9562, section 5.7).
 *
 * 48 bits of Unix time in milliseconds, then a 12-bit counter in `rand_a` (the RFC's "fixed-length
 * dedicated counter", method 1: started at a random value below 2048 every millisecond, so it cannot
 * wrap), then 62 random bits in `rand_b`, drawn anew every millisecond. Ids are unique across processes
 * (the random bits), increase within one (time, then counter: a clock that steps back is not followed,
 * and a counter that runs out moves on to the next millisecond) and sort by publish time.
 *
 * Cheap by construction: the random bits and the text of the time are made once per millisecond, so a
 * message costs three hex digits and a string concatenation (a random UUIDv4 costs a trip to the CSPRNG
 * pool and 32 hex digits each).
 */
import { randomFillSync } from 'node:crypto';

const HEX2 = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
/** The counter's text: one entry per 12-bit value. */
const HEX3 = Array.from({ length: 4096 }, (_, i) => i.toString(16).padStart(3, '0'));
const COUNTER_MAX = 0xfff;
/** Random bytes are drawn this many at a time (randomFillSync's own cost dwarfs 10 bytes). */
const POOL_BYTES = 4096;
const PER_MS = 10;

/** A source of ids (one per process is what publishMessage uses; tests make their own with a clock). */
export class MessageIdSource {
  private ms = -1;
  private counter = 0;
  /** `tttttttt-tttt-7` for the current millisecond. */
  private head = '';
  /** `-vrrr-rrrrrrrrrrrr` (variant bits and rand_b) for the current millisecond. */
  private tail = '';
  private readonly pool = Buffer.alloc(POOL_BYTES);
  private poolAt = POOL_BYTES;

  constructor(private readonly clock: () => number = Date.now) {}

  next(): string {
    const now = this.clock();
    if (now > this.ms) this.start(now);
    else if (this.counter === COUNTER_MAX) this.start(this.ms + 1);
    else this.counter++;
    return this.head + HEX3[this.counter]! + this.tail;
  }

  private start(ms: number): void {
    this.ms = ms;
    if (this.poolAt + PER_MS > POOL_BYTES) {
      randomFillSync(this.pool);
      this.poolAt = 0;
    }
    const r = this.pool;
    const o = this.poolAt;
    this.poolAt += PER_MS;
    // Below 2048: at least 2048 ids before the counter runs out within one millisecond.
    this.counter = ((r[o + 8]! << 8) | r[o + 9]!) & 0x7ff;
    const t = ms.toString(16).padStart(12, '0');
    this.head = `${t.slice(0, 8)}-${t.slice(8, 12)}-7`;
    const hex = (i: number) => HEX2[r[o + i]!];
    const variant = HEX2[(r[o]! & 0x3f) | 0x80];
    this.tail = `-${variant}${hex(1)}-${hex(2)}${hex(3)}${hex(4)}${hex(5)}${hex(6)}${hex(7)}`;
  }
}

const shared = new MessageIdSource();

/** A new message id (see the module documentation). */
export function newMessageId(): string {
  return shared.next();
}
