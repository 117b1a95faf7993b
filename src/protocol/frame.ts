/**
 * AMQP frames: the encoder that writes method, content-header and body frames into a {@link BufferWriter},
 * and the streaming {@link FrameDecoder} that turns bytes in any chunking into typed frames.
 * @module
 */
import { DecodeError, EncodeError, ProtocolError } from './errors.js';
import { BufferReader } from './reader.js';
import {
  type BasicProperties,
  ClassId,
  decodeBasicAck,
  decodeBasicDeliver,
  decodeBasicProperties,
  decodeMethodPayload,
  encodeBasicProperties,
  encodeBasicPublish,
  encodeMethodPayload,
  FRAME_BODY,
  FRAME_END,
  FRAME_HEADER,
  FRAME_HEARTBEAT,
  FRAME_METHOD,
  FRAME_MIN_SIZE,
  type Method,
  type MethodInputs,
  type MethodName,
} from './spec.js';
import type { BufferWriter } from './writer.js';

/** Bytes of frame overhead: type (1) + channel (2) + size (4) + frame-end (1). */
export const FRAME_OVERHEAD = 8;
const HEADER_SIZE = 7;
const EMPTY = Buffer.alloc(0);

/** The 8-byte protocol header a client sends first: `AMQP 0 0 9 1`. */
export const PROTOCOL_HEADER: Buffer = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);

/** A method frame. */
export interface MethodFrame {
  type: typeof FRAME_METHOD;
  channel: number;
  method: Method;
}
/** A content header frame. */
export interface HeaderFrame {
  type: typeof FRAME_HEADER;
  channel: number;
  classId: number;
  bodySize: number;
  properties: BasicProperties;
  /** Set when the properties could not be decoded (then `properties` is `{}`); see {@link FrameSink.header}. */
  decodeError?: DecodeError;
}
/** A content body frame; `payload` is a view into the received bytes. */
export interface BodyFrame {
  type: typeof FRAME_BODY;
  channel: number;
  payload: Buffer;
}
/** A heartbeat frame. */
export interface HeartbeatFrame {
  type: typeof FRAME_HEARTBEAT;
  channel: 0;
}
export type Frame = MethodFrame | HeaderFrame | BodyFrame | HeartbeatFrame;

function beginFrame(w: BufferWriter, type: number, channel: number): number {
  w.ensure(HEADER_SIZE);
  const at = w.pos;
  w.buf[at] = type;
  w.buf.writeUInt16BE(channel, at + 1);
  w.pos += HEADER_SIZE;
  return at;
}

function endFrame(w: BufferWriter, at: number): void {
  w.buf.writeUInt32BE(w.pos - at - HEADER_SIZE, at + 3);
  w.ensure(1);
  w.buf[w.pos++] = FRAME_END;
}

/**
 * Method and content-header frames cannot be split: one larger than frame_max would make the broker close
 * the whole connection (501), so it is refused here, before anything is sent.
 */
function checkFrameSize(size: number, frameMax: number, what: string): void {
  if (frameMax > 0 && size > frameMax) {
    throw new EncodeError(`${what} needs a frame of ${size} bytes, more than the negotiated frame_max of ${frameMax}`);
  }
}

/** Writes one method frame. If encoding throws, nothing of the frame stays in `w`. */
export function writeMethodFrame<N extends MethodName>(
  w: BufferWriter,
  channel: number,
  name: N,
  args: MethodInputs[N],
  frameMax = 0,
): void {
  const mark = w.pos;
  try {
    const at = beginFrame(w, FRAME_METHOD, channel);
    encodeMethodPayload(w, name, args);
    endFrame(w, at);
    checkFrameSize(w.pos - at, frameMax, name);
  } catch (err) {
    w.rewind(mark);
    throw err;
  }
}

/** Writes a basic.ack frame: the hottest frame a consumer sends, so it skips the generic path. */
export function writeBasicAckFrame(w: BufferWriter, channel: number, deliveryTag: number, multiple: boolean): void {
  if (!Number.isSafeInteger(deliveryTag) || deliveryTag < 0) {
    throw new EncodeError(`basic.ack deliveryTag must be a non-negative safe integer, got ${deliveryTag}`);
  }
  w.ensure(21);
  const b = w.buf;
  const p = w.pos;
  b[p] = FRAME_METHOD;
  b.writeUInt16BE(channel, p + 1);
  b.writeUInt32BE(13, p + 3);
  b.writeUInt32BE(0x003c0050, p + 7); // basic.ack: class 60, method 80
  b.writeUInt32BE(Math.floor(deliveryTag / 4294967296), p + 11);
  b.writeUInt32BE(deliveryTag >>> 0, p + 15);
  b[p + 19] = multiple ? 1 : 0;
  b[p + 20] = FRAME_END;
  w.pos = p + 21;
}

/** Writes a heartbeat frame. */
export function writeHeartbeatFrame(w: BufferWriter): void {
  w.ensure(FRAME_OVERHEAD);
  const b = w.buf;
  const p = w.pos;
  b[p] = FRAME_HEARTBEAT;
  b.writeUInt16BE(0, p + 1);
  b.writeUInt32BE(0, p + 3);
  b[p + 7] = FRAME_END;
  w.pos += FRAME_OVERHEAD;
}

/** Content larger than this is not copied into the output buffer; its frames point at the caller's bytes. */
export const COPY_BODY_LIMIT = 64 * 1024;

/**
 * Writes a whole publish: the basic.publish method frame, the content header and the body split into
 * frames of at most `frameMax` bytes, all into `w` so that one socket write carries it.
 *
 * When the body is larger than {@link COPY_BODY_LIMIT}, the body bytes are not copied: the function
 * returns the list of chunks (frame headers from `w` interleaved with views of `body`) to write in
 * order instead, and leaves `w` with nothing pending.
 */
export function writePublish(
  w: BufferWriter,
  channel: number,
  args: MethodInputs['basic.publish'],
  properties: BasicProperties,
  body: Uint8Array,
  frameMax: number,
): Buffer[] | null {
  const mark = w.pos;
  try {
    let at = beginFrame(w, FRAME_METHOD, channel);
    w.ensure(4);
    w.buf.writeUInt32BE(0x003c0028, w.pos); // basic.publish: class 60, method 40
    w.pos += 4;
    encodeBasicPublish(w, args);
    endFrame(w, at);
    at = beginFrame(w, FRAME_HEADER, channel);
    w.ensure(12);
    w.buf.writeUInt32BE(ClassId.BASIC << 16, w.pos); // class id, weight 0
    w.buf.writeUInt32BE(Math.floor(body.length / 4294967296), w.pos + 4);
    w.buf.writeUInt32BE(body.length >>> 0, w.pos + 8);
    w.pos += 12;
    encodeBasicProperties(w, properties);
    endFrame(w, at);
    checkFrameSize(w.pos - at, frameMax, 'the content header (message properties)');
  } catch (err) {
    // Nothing of a half-encoded publish may reach the socket with the next flush.
    w.rewind(mark);
    throw err;
  }
  return writeBodyFrames(w, channel, body, frameMax);
}

function writeBodyFrames(w: BufferWriter, channel: number, body: Uint8Array, frameMax: number): Buffer[] | null {
  const maxPayload = frameMax - FRAME_OVERHEAD;
  const copy = body.length <= COPY_BODY_LIMIT;
  const chunks: Buffer[] | null = copy ? null : [];
  const view = copy ? null : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (copy) w.ensure(body.length + Math.ceil(body.length / maxPayload) * FRAME_OVERHEAD);
  for (let off = 0; off < body.length; off += maxPayload) {
    const size = Math.min(maxPayload, body.length - off);
    w.ensure(HEADER_SIZE + 1);
    const p = w.pos;
    w.buf[p] = FRAME_BODY;
    w.buf.writeUInt16BE(channel, p + 1);
    w.buf.writeUInt32BE(size, p + 3);
    w.pos += HEADER_SIZE;
    if (copy) {
      w.buf.set(size === body.length ? body : body.subarray(off, off + size), w.pos);
      w.pos += size;
      w.buf[w.pos++] = FRAME_END;
    } else {
      chunks!.push(w.take()!, view!.subarray(off, off + size));
      w.u8(FRAME_END);
    }
  }
  if (chunks) {
    const tail = w.take();
    if (tail) chunks.push(tail);
  }
  return chunks;
}

/**
 * Receives what a {@link FrameDecoder} decodes, one call per frame and no frame object in between: a
 * consumer's hot path (method, header, body per delivery) allocates only what it keeps. Use
 * {@link frameObjects} where frame objects are handier than speed.
 */
export interface FrameSink {
  method(channel: number, method: Method): void;
  /**
   * A content header; its class is basic (the decoder refuses any other with a 505). When its properties
   * cannot be decoded (an unknown field type, a table longer than the frame...), `properties` is `{}` and
   * `decodeError` says why: the frame's size is known, so only that message is affected, not the stream.
   */
  header(channel: number, bodySize: number, properties: BasicProperties, decodeError?: DecodeError): void;
  /**
   * A content body frame; `payload` is a view into the received bytes. For a frame whose earlier parts
   * came through {@link bodyPart}, it is the frame's last part, handed on once its frame-end octet checked out.
   */
  body(channel: number, payload: Buffer): void;
  /**
   * Optional. A part of a body frame that did not arrive in one chunk, as a view into the received bytes,
   * in order; the frame's last part comes through {@link body}. A sink that appends body bytes (a content
   * assembler) then copies a large body once, into its own buffer, instead of the decoder gathering each
   * frame first. Without it, such a frame is gathered and handed on whole.
   */
  bodyPart?(channel: number, part: Buffer): void;
  /**
   * Optional, with {@link bodyPlaced}. Where the next `n` body bytes of the channel's message should be
   * read to: a view of exactly `n` bytes of the body's own buffer, or undefined (then they come through
   * {@link bodyPart} / {@link body} as usual). Asked only for large remainders of a body frame, so that a
   * reader ({@link FrameDecoder.readInto}) can put them in place instead of copying them out of a slab.
   */
  bodyTarget?(channel: number, n: number): Buffer | undefined;
  /**
   * The first `n` bytes of the view {@link bodyTarget} returned last now hold body bytes, in order. As for
   * parts, the frame's last bytes are reported only once its frame-end octet checked out.
   */
  bodyPlaced?(channel: number, n: number): void;
  heartbeat(): void;
  /** A protocol violation; the decoder accepts no more input after it. */
  error(err: ProtocolError): void;
}

/** A {@link FrameSink} that hands each frame on as a {@link Frame} object (tests, tools, fake servers). */
export function frameObjects(onFrame: (frame: Frame) => void, onError: (err: ProtocolError) => void): FrameSink {
  return {
    method: (channel, method) => onFrame({ type: FRAME_METHOD, channel, method }),
    header: (channel, bodySize, properties, decodeError) =>
      onFrame(
        decodeError === undefined
          ? { type: FRAME_HEADER, channel, classId: ClassId.BASIC, bodySize, properties }
          : { type: FRAME_HEADER, channel, classId: ClassId.BASIC, bodySize, properties, decodeError },
      ),
    body: (channel, payload) => onFrame({ type: FRAME_BODY, channel, payload }),
    heartbeat: () => onFrame({ type: FRAME_HEARTBEAT, channel: 0 }),
    error: onError,
  };
}

/**
 * The least of a body frame's remaining payload worth a read of its own into the body's buffer: smaller
 * remainders come with the next slab read, and copying them costs less than the extra read would.
 */
export const IN_PLACE_MIN = 16 * 1024;

/** What a sink threw, as the error the decoder reports (a ProtocolError stays as it is). */
function asProtocolError(err: unknown): ProtocolError {
  return err instanceof ProtocolError
    ? err
    : new ProtocolError(501, `frame decoding failed: ${(err as Error).message}`, { cause: err });
}

const BASIC_DELIVER_KEY = (ClassId.BASIC << 16) | 60;
const BASIC_ACK_KEY = (ClassId.BASIC << 16) | 80;

/**
 * basic.deliver (consumers) and basic.ack (publisher confirms) arrive by the thousand, every other method
 * rarely. Decoding those two before the generic 64-way switch keeps the hot path small, so the optimizing
 * compiler, whose work a short-lived process pays for per message, has less to compile.
 */
function decodeMethod(r: BufferReader): Method {
  if (r.end - r.pos >= 4) {
    const key = r.buf.readUInt32BE(r.pos);
    if (key === BASIC_DELIVER_KEY) {
      r.pos += 4;
      return decodeBasicDeliver(r);
    }
    if (key === BASIC_ACK_KEY) {
      r.pos += 4;
      return decodeBasicAck(r);
    }
  }
  return decodeMethodPayload(r);
}

/**
 * Streaming frame decoder. Accepts bytes in any chunking, one byte at a time included.
 *
 * A frame that is whole inside a chunk is decoded in place (a body payload is a view, not a copy). A frame
 * split across chunks is gathered into one buffer sized from its header, so gathering is linear. The
 * declared size is checked against {@link maxFrameSize} from the 7-byte header alone, before anything is
 * buffered, so a header declaring 4 GiB allocates nothing. The decoder never throws: a violation is
 * reported once through `sink.error` and all later input is ignored.
 */
export class FrameDecoder {
  /** Largest frame accepted (header + payload + end), the negotiated frame_max; 0 means no limit. */
  maxFrameSize: number;
  private failed = false;
  private readonly header = Buffer.alloc(HEADER_SIZE);
  private headerFill = 0;
  private partial: Buffer | null = null;
  private partialFill = 0;
  private partialType = 0;
  private partialChannel = 0;
  private sawFrame = false;
  /** Payload bytes still to come of a body frame handed on in parts (-1: none); then its frame-end octet. */
  private partsLeft = -1;
  private partsChannel = 0;
  /** The frame's last part, held until its frame-end octet is checked. */
  private lastPart: Buffer | null = null;
  /** Or the frame's last bytes were read in place: how many (-1: none), reported once the frame-end checks out. */
  private lastPlaced = -1;
  /** The frame in parts fills frame_max: the next body frame of the message likely follows it at once. */
  private partsFull = false;
  /** Some of the frame in parts was read in place: its remainder is too, however small. */
  private partsPlaced = false;
  /** One cursor for every method and header payload: nothing decoded keeps it. */
  private readonly reader = new BufferReader(EMPTY, 0, 0);

  constructor(
    private readonly sink: FrameSink,
    maxFrameSize = 128 * 1024,
  ) {
    // 0 means no limit; any other limit is at least the spec's minimum frame size.
    this.maxFrameSize = maxFrameSize === 0 ? 0 : Math.max(maxFrameSize, FRAME_MIN_SIZE);
  }

  /** True once a protocol violation has been reported. */
  get hasFailed(): boolean {
    return this.failed;
  }

  /**
   * Where the next read should put its bytes: a view of the message body's own buffer when the frame being
   * received in parts has at least {@link IN_PLACE_MIN} payload bytes to come (or is being read in place
   * already) and the sink offers a target ({@link FrameSink.bodyTarget}); undefined otherwise. Bytes read
   * into it are reported with {@link placed}, never pushed.
   */
  readInto(): Buffer | undefined {
    if (this.failed || this.partsLeft <= 0 || this.sink.bodyTarget === undefined) return undefined;
    // A small remainder is not worth a read of its own, unless the frame is being read in place already: a
    // slab read would bring the next frame's header and payload with it, to be copied out again.
    if (this.partsLeft < IN_PLACE_MIN && !this.partsPlaced) return undefined;
    try {
      return this.sink.bodyTarget(this.partsChannel, this.partsLeft);
    } catch (err) {
      // The sink could not make room (a body larger than memory allows): as for any failure of a sink.
      this.fail(asProtocolError(err));
      return undefined;
    }
  }

  /**
   * How many bytes the next read into a slab should take at most (0: no limit). Right after a full-size body
   * frame was read in place, only its frame-end octet and the next frame's header (8 bytes): the next body
   * frame's payload is then read in place too, instead of arriving with that read.
   */
  readAtMost(): number {
    return this.partsLeft === 0 && this.lastPlaced >= 0 && this.partsFull ? FRAME_OVERHEAD : 0;
  }

  /** `n` bytes were read into the view {@link readInto} returned (its first `n`). */
  placed(n: number): void {
    if (this.failed) return;
    if (n <= 0 || n > this.partsLeft) {
      this.fail(new ProtocolError(501, `${n} bytes read in place, but ${Math.max(this.partsLeft, 0)} were expected`));
      return;
    }
    this.partsLeft -= n;
    this.partsPlaced = true;
    try {
      if (this.partsLeft > 0) this.sink.bodyPlaced!(this.partsChannel, n);
      else this.lastPlaced = n;
    } catch (err) {
      this.fail(asProtocolError(err));
    }
  }

  /** True while a frame is partly received (used to tell a stall mid-frame from an idle link). */
  get midFrame(): boolean {
    return this.headerFill > 0 || this.partial !== null || this.partsLeft >= 0;
  }

  push(chunk: Buffer): void {
    if (this.failed) return;
    try {
      this.consume(chunk);
    } catch (err) {
      this.fail(asProtocolError(err));
    }
  }

  private fail(err: ProtocolError): void {
    if (this.failed) return;
    this.failed = true;
    this.partial = null;
    this.partsLeft = -1;
    this.lastPart = null;
    this.lastPlaced = -1;
    this.sink.error(err);
  }

  private consume(chunk: Buffer): void {
    let off = 0;
    const len = chunk.length;
    while (off < len && !this.failed) {
      if (this.partsLeft >= 0) {
        off = this.bodyParts(chunk, off);
        continue;
      }
      if (this.partial !== null) {
        const n = Math.min(this.partial.length - this.partialFill, len - off);
        chunk.copy(this.partial, this.partialFill, off, off + n);
        this.partialFill += n;
        off += n;
        if (this.partialFill === this.partial.length) {
          const buf = this.partial;
          this.partial = null;
          this.finish(this.partialType, this.partialChannel, buf, 0, buf.length - 1);
        }
        continue;
      }
      let type: number;
      let channel: number;
      let size: number;
      if (this.headerFill === 0 && len - off >= HEADER_SIZE) {
        type = chunk[off]!;
        channel = chunk.readUInt16BE(off + 1);
        size = chunk.readUInt32BE(off + 3);
        off += HEADER_SIZE;
      } else {
        const n = Math.min(HEADER_SIZE - this.headerFill, len - off);
        chunk.copy(this.header, this.headerFill, off, off + n);
        this.headerFill += n;
        off += n;
        if (this.headerFill < HEADER_SIZE) return;
        this.headerFill = 0;
        type = this.header[0]!;
        channel = this.header.readUInt16BE(1);
        size = this.header.readUInt32BE(3);
      }
      this.checkHeader(type, size);
      if (this.failed) return;
      if (len - off >= size + 1) {
        this.finish(type, channel, chunk, off, off + size);
        off += size + 1;
      } else if (type === FRAME_BODY && size > 0 && this.sink.bodyPart !== undefined) {
        this.partsLeft = size;
        this.partsChannel = channel;
        this.partsFull = this.maxFrameSize > 0 && size + FRAME_OVERHEAD === this.maxFrameSize;
        this.partsPlaced = false;
      } else {
        this.partial = Buffer.allocUnsafe(size + 1);
        this.partialFill = 0;
        this.partialType = type;
        this.partialChannel = channel;
      }
    }
  }

  /** Hands on what `chunk` holds of a body frame received in parts, from `off`; returns where it stopped. */
  private bodyParts(chunk: Buffer, off: number): number {
    if (this.partsLeft > 0) {
      const n = Math.min(this.partsLeft, chunk.length - off);
      const part = chunk.subarray(off, off + n);
      this.partsLeft -= n;
      if (this.partsLeft > 0) this.sink.bodyPart!(this.partsChannel, part);
      else this.lastPart = part;
      return off + n;
    }
    if (chunk[off] !== FRAME_END) {
      throw new ProtocolError(501, `bad frame-end octet 0x${chunk[off]!.toString(16)} (expected 0xce)`);
    }
    const last = this.lastPart;
    const placed = this.lastPlaced;
    this.partsLeft = -1;
    this.lastPart = null;
    this.lastPlaced = -1;
    if (last !== null) this.sink.body(this.partsChannel, last);
    else this.sink.bodyPlaced!(this.partsChannel, placed);
    return off + 1;
  }

  private checkHeader(type: number, size: number): void {
    if (!this.sawFrame && type === 0x41) {
      throw new ProtocolError(501, 'the server answered with a protocol header: it does not speak AMQP 0-9-1');
    }
    this.sawFrame = true;
    if (type !== FRAME_METHOD && type !== FRAME_HEADER && type !== FRAME_BODY && type !== FRAME_HEARTBEAT) {
      throw new ProtocolError(501, `unknown frame type ${type}`);
    }
    if (this.maxFrameSize > 0 && size + FRAME_OVERHEAD > this.maxFrameSize) {
      throw new ProtocolError(
        501,
        `frame of ${size + FRAME_OVERHEAD} bytes exceeds the negotiated frame_max of ${this.maxFrameSize}`,
      );
    }
  }

  /** Decodes a whole frame whose payload is `buf[start, end)` and whose end octet is `buf[end]`. */
  private finish(type: number, channel: number, buf: Buffer, start: number, end: number): void {
    if (buf[end] !== FRAME_END) {
      throw new ProtocolError(501, `bad frame-end octet 0x${buf[end]!.toString(16)} (expected 0xce)`);
    }
    switch (type) {
      case FRAME_METHOD:
        this.sink.method(channel, decodeMethod(this.reader.reset(buf, start, end)));
        return;
      case FRAME_HEADER:
        this.decodeHeader(channel, this.reader.reset(buf, start, end));
        return;
      case FRAME_BODY:
        this.sink.body(channel, buf.subarray(start, end));
        return;
      default:
        if (channel !== 0 || end !== start) {
          throw new ProtocolError(
            501,
            `heartbeat frame must be empty on channel 0 (channel ${channel}, ${end - start} bytes)`,
          );
        }
        this.sink.heartbeat();
    }
  }

  private decodeHeader(channel: number, r: BufferReader): void {
    const classId = r.u16();
    r.u16(); // weight, unused
    const bodySize = r.u64();
    if (classId !== ClassId.BASIC) {
      throw new ProtocolError(505, `content header for class ${classId}: only basic (60) carries content`);
    }
    let properties: BasicProperties;
    try {
      properties = decodeBasicProperties(r);
      r.expectEnd('content header');
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      // The reader never goes past the frame, so the stream is intact: fail this message, not the connection.
      this.sink.header(
        channel,
        bodySize,
        {},
        new DecodeError(`cannot decode the properties of a message on channel ${channel}: ${err.message}`, {
          cause: err,
        }),
      );
      return;
    }
    this.sink.header(channel, bodySize, properties);
  }
}
