import { EncodeError } from './errors.js';
import { RawTimestamp } from './timestamp.js';

/** Strings up to this length are tried as ASCII by a plain copy loop before the native encoder. */
const ASCII_LOOP_MAX = 64;

const TWO_POW_32 = 4294967296;
const DEFAULT_CAPACITY = 64 * 1024;

/**
 * An append-only, growing output buffer that hands out finished regions without copying.
 *
 * Bytes between `start` and `pos` are encoded but not yet taken. {@link take} returns them as a view and
 * moves `start` forward; the region handed out is never written again, so it is safe to give to a socket
 * that holds on to it until flushed. Frames for many publishes thus share one allocation and one write.
 *
 * Offsets stay valid while encoding: growing copies the untaken bytes to the same offsets of the larger
 * buffer, so an encoder may remember where a length field is and fill it in later. A fresh buffer is only
 * started by {@link take}, between frames, when little room is left.
 */
export class BufferWriter {
  buf: Buffer;
  pos = 0;
  start = 0;
  private readonly capacity: number;

  constructor(capacity = DEFAULT_CAPACITY) {
    this.capacity = capacity;
    this.buf = Buffer.allocUnsafe(capacity);
  }

  /** Number of encoded bytes not yet taken. */
  get pending(): number {
    return this.pos - this.start;
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, this.start, this.start, this.pos);
    this.buf = next;
  }

  /** Returns the bytes encoded since the last take, as a view (no copy), or null when there are none. */
  take(): Buffer | null {
    if (this.pos === this.start) return null;
    const out = this.buf.subarray(this.start, this.pos);
    this.start = this.pos;
    if (this.buf.length - this.pos < this.capacity / 4 || this.buf.length > this.capacity * 4) {
      // The taken bytes belong to the socket now; start over in a new buffer (a grown one is let go).
      this.buf = Buffer.allocUnsafe(this.capacity);
      this.start = 0;
      this.pos = 0;
    }
    return out;
  }

  /** Drops bytes encoded after `to` (used when an encode fails half way). */
  rewind(to: number): void {
    if (to >= this.start && to <= this.pos) this.pos = to;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  u64(v: number, field: string): void {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new EncodeError(`${field} must be a non-negative safe integer, got ${v}`);
    }
    this.ensure(8);
    this.buf.writeUInt32BE(Math.floor(v / TWO_POW_32), this.pos);
    this.buf.writeUInt32BE(v >>> 0, this.pos + 4);
    this.pos += 8;
  }

  shortstr(s: string, field: string): void {
    if (typeof s !== 'string') throw new EncodeError(`${field} must be a string, got ${typeof s}`);
    // Routing keys, message ids and content types are short ASCII: copying char codes beats the native
    // UTF-8 encoder's call overhead. Anything else falls through to it.
    const len = s.length;
    if (len <= ASCII_LOOP_MAX) {
      this.ensure(1 + len);
      const buf = this.buf;
      const at = this.pos + 1;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) break;
        buf[at + i] = c;
      }
      if (i === len) {
        buf[this.pos] = len;
        this.pos = at + len;
        return;
      }
    }
    this.ensure(1 + len * 3);
    const n = this.buf.write(s, this.pos + 1, 'utf8');
    if (n > 255) throw new EncodeError(`${field} must be at most 255 bytes (UTF-8), got ${n}`);
    this.buf[this.pos] = n;
    this.pos += 1 + n;
  }

  longstr(s: string | Uint8Array, field: string): void {
    if (typeof s === 'string') {
      this.ensure(4 + s.length * 3);
      const n = this.buf.write(s, this.pos + 4, 'utf8');
      this.buf.writeUInt32BE(n, this.pos);
      this.pos += 4 + n;
      return;
    }
    if (!(s instanceof Uint8Array)) throw new EncodeError(`${field} must be a string or bytes, got ${typeof s}`);
    this.u32(s.length);
    this.bytes(s);
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /**
   * A Date as signed 64-bit seconds since the epoch (rounded down; before 1970 is negative). A
   * {@link RawTimestamp} is written with its exact value, so a timestamp received is sent back unchanged.
   */
  timestamp(d: Date, field: string): void {
    this.ensure(8);
    if (d instanceof RawTimestamp) {
      const s = d.seconds;
      if (typeof s !== 'bigint' || s < -(2n ** 63n) || s >= 2n ** 63n) {
        throw new EncodeError(`${field} must be a timestamp within 64 bits, got ${String(s)} s`);
      }
      this.buf.writeBigInt64BE(s, this.pos);
      this.pos += 8;
      return;
    }
    const ms = d instanceof Date ? d.getTime() : Number.NaN;
    if (!Number.isFinite(ms)) throw new EncodeError(`${field} must be a valid Date, got ${String(d)}`);
    const seconds = Math.floor(ms / 1000);
    const hi = Math.floor(seconds / TWO_POW_32);
    this.buf.writeInt32BE(hi, this.pos);
    this.buf.writeUInt32BE(seconds - hi * TWO_POW_32, this.pos + 4);
    this.pos += 8;
  }
}
