import { ProtocolError } from './errors.js';
import { MAX_DATE_SECONDS, RawTimestamp } from './timestamp.js';

const TWO_POW_32 = 4294967296;
const MAX_SAFE_HIGH_WORD = 0x1fffff;

const CACHED_MAX = 64;
const CACHE_SLOTS = 256;
const cache: string[] = new Array(CACHE_SLOTS).fill('');

/**
 * Consumer tags, exchanges, routing keys and content types repeat on every delivery. Decoding them again
 * each time costs a native call and a fresh string; instead a small direct-mapped cache of ASCII strings
 * is compared byte by byte against the input (for ASCII, byte i equals char code i), which allocates nothing.
 */
function cachedShortstr(buf: Buffer, start: number, len: number): string {
  const slot = (len * 31 + buf[start]! * 7 + buf[start + len - 1]! + buf[start + (len >> 1)]! * 13) & (CACHE_SLOTS - 1);
  const hit = cache[slot]!;
  if (hit.length === len) {
    let i = 0;
    while (i < len && buf[start + i] === hit.charCodeAt(i)) i++;
    if (i === len) return hit;
  }
  const s = buf.toString('utf8', start, start + len);
  // Only pure ASCII (one byte per char) can be compared that way later.
  if (s.length === len) cache[slot] = s;
  return s;
}

/**
 * A bounds-checked cursor over one frame payload. Every read checks the declared end of the payload
 * (not the end of the underlying buffer, which may hold further frames), so malformed input surfaces
 * as a 502 syntax-error instead of a RangeError or a read into the next frame.
 */
export class BufferReader {
  constructor(
    public buf: Buffer,
    public pos: number,
    public end: number,
  ) {}

  /** Points the reader at another payload, `buf[pos, end)`. */
  reset(buf: Buffer, pos: number, end: number): this {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    return this;
  }

  /** Bytes not yet read. */
  get remaining(): number {
    return this.end - this.pos;
  }

  need(n: number, what: string): void {
    if (this.pos + n > this.end) {
      throw new ProtocolError(502, `malformed payload: ${what} needs ${n} bytes, ${this.end - this.pos} left`);
    }
  }

  u8(): number {
    this.need(1, 'octet');
    return this.buf[this.pos++]!;
  }

  u16(): number {
    this.need(2, 'short');
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4, 'long');
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /**
   * An unsigned 64-bit integer as a JS number. Used for delivery tags and body sizes, which stay far
   * below 2^53 in practice; a larger value is rejected rather than silently rounded.
   */
  u64(): number {
    this.need(8, 'longlong');
    const hi = this.buf.readUInt32BE(this.pos);
    const lo = this.buf.readUInt32BE(this.pos + 4);
    this.pos += 8;
    if (hi > MAX_SAFE_HIGH_WORD) {
      throw new ProtocolError(502, `malformed payload: 64-bit value ${(BigInt(hi) << 32n) | BigInt(lo)} exceeds 2^53`);
    }
    return hi * TWO_POW_32 + lo;
  }

  shortstr(): string {
    const len = this.u8();
    this.need(len, 'shortstr');
    const start = this.pos;
    this.pos += len;
    if (len === 0) return '';
    if (len > CACHED_MAX) return this.buf.toString('utf8', start, start + len);
    return cachedShortstr(this.buf, start, len);
  }

  /** A long string's bytes, as a view into the frame (no copy). */
  longBytes(): Buffer {
    const len = this.u32();
    this.need(len, 'longstr');
    const b = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return b;
  }

  longstr(): string {
    const len = this.u32();
    this.need(len, 'longstr');
    const s = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }

  /**
   * A timestamp (seconds since the epoch, 64-bit) as a Date. Read as signed, as other clients write a
   * date before 1970; one that no Date can hold comes back as a {@link RawTimestamp} with the exact value.
   * Never refused: a header value must not be able to close the connection.
   */
  timestamp(): Date {
    this.need(8, 'timestamp');
    const hi = this.buf.readInt32BE(this.pos);
    const lo = this.buf.readUInt32BE(this.pos + 4);
    this.pos += 8;
    if (hi >= -0x200000 && hi < 0x200000) {
      const seconds = hi * TWO_POW_32 + lo; // exact: |hi| < 2^21
      if (seconds <= MAX_DATE_SECONDS && seconds >= -MAX_DATE_SECONDS) return new Date(seconds * 1000);
    }
    return new RawTimestamp(this.buf.readBigInt64BE(this.pos - 8));
  }

  /** Fails when bytes are left over: a method or header carries exactly its arguments. */
  expectEnd(what: string): void {
    if (this.pos !== this.end) {
      throw new ProtocolError(502, `malformed payload: ${this.end - this.pos} unexpected trailing bytes after ${what}`);
    }
  }
}
