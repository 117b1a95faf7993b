/**
 * Frame layer: FrameDecoder under any chunking and hostile input, writePublish body splitting and zero-copy
 * large bodies, ContentAssembler ordering and zero-copy single-frame bodies, and atomic failed encodes.
 */
import { describe, expect, it, vi } from 'vitest';
import {
  type BasicProperties,
  type BodyFrame,
  BufferWriter,
  COPY_BODY_LIMIT,
  ContentAssembler,
  type ContentMessage,
  EncodeError,
  FRAME_OVERHEAD,
  type Frame,
  FrameDecoder,
  type FrameSink,
  frameObjects,
  type Method,
  ProtocolError,
  typed,
  writeHeartbeatFrame,
  writeMethodFrame,
  writePublish,
} from '../../../src/protocol/index.js';
import { thrown } from '../../helpers/thrown.js';

// ---------------------------------------------------------------------------------------------------------
// Helpers

function hex(...parts: string[]): Buffer {
  const s = parts.join('').replace(/\s+/g, '');
  if (!/^([0-9a-f]{2})*$/i.test(s)) throw new Error(`bad hex literal: ${s}`);
  return Buffer.from(s, 'hex');
}

/** A deterministic PRNG (mulberry32) so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Collector {
  frames: Frame[] = [];
  errors: ProtocolError[] = [];
  readonly decoder: FrameDecoder;
  constructor(maxFrameSize = 128 * 1024) {
    this.decoder = new FrameDecoder(
      frameObjects(
        (f) => this.frames.push(f),
        (e) => this.errors.push(e),
      ),
      maxFrameSize,
    );
  }
  /** Pushes every chunk, asserting that push never throws. */
  push(...chunks: Buffer[]): this {
    return this.pushAll(chunks);
  }
  pushAll(chunks: readonly Buffer[]): this {
    expect(() => {
      for (const c of chunks) this.decoder.push(c);
    }).not.toThrow();
    return this;
  }
}

/** Frames in a comparable form (body payloads as hex, so views and copies compare equal). */
function normalize(frames: Frame[]): unknown[] {
  return frames.map((f) => (f.type === 3 ? { ...f, payload: f.payload.toString('hex') } : f));
}

/** A frame from raw parts. */
function rawFrame(type: number, channel: number, payload: Buffer, end = 0xce): Buffer {
  const head = Buffer.alloc(7);
  head[0] = type;
  head.writeUInt16BE(channel, 1);
  head.writeUInt32BE(payload.length, 3);
  return Buffer.concat([head, payload, Buffer.from([end])]);
}

/** A stream of many frames of every type. */
function sampleStream(): Buffer {
  const w = new BufferWriter(1024);
  writeMethodFrame(w, 0, 'connection.tune', { channelMax: 2047, frameMax: 131072, heartbeat: 60 });
  writeHeartbeatFrame(w);
  for (let i = 0; i < 40; i++) {
    writeMethodFrame(w, 1 + (i % 3), 'basic.deliver', {
      consumerTag: `ctag-${i}`,
      deliveryTag: i + 1,
      redelivered: i % 2 === 0,
      exchange: 'ex',
      routingKey: `rk.${i}`,
    });
    const body = Buffer.alloc(i * 97, i);
    writePublish(w, 1 + (i % 3), { exchange: 'e' }, { messageId: `m${i}`, headers: { i } }, body, 4096);
    if (i % 7 === 0) writeHeartbeatFrame(w);
  }
  writeMethodFrame(w, 0, 'connection.close', { replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 });
  return Buffer.from(w.take()!);
}

/** Splits a buffer at the given sorted cut points. */
function cut(buf: Buffer, points: number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, buf.length]) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  return out;
}

/** Raw frames of a buffer, by walking the headers. */
function splitFrames(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < buf.length; ) {
    const size = buf.readUInt32BE(off + 3);
    out.push(buf.subarray(off, off + 7 + size + 1));
    off += 7 + size + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------

describe('FrameDecoder chunking', () => {
  const stream = sampleStream();
  const oneShot = new Collector().push(stream);

  it('one-shot decoding yields every frame, no error', () => {
    expect(oneShot.errors).toEqual([]);
    // 1 tune + heartbeats + 40 × (deliver + publish + header + body frames) + close
    expect(oneShot.frames.length).toBeGreaterThan(150);
    expect(oneShot.frames[0]).toMatchObject({ type: 1, channel: 0, method: { name: 'connection.tune' } });
    expect(oneShot.frames[1]).toEqual({ type: 8, channel: 0 });
    expect(oneShot.frames.at(-1)).toMatchObject({ method: { name: 'connection.close', replyText: 'bye' } });
    expect(oneShot.decoder.midFrame).toBe(false);
  });

  it('one byte at a time gives the same frames', () => {
    const bytes: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) bytes.push(stream.subarray(i, i + 1));
    const c = new Collector().pushAll(bytes);
    expect(c.errors).toEqual([]);
    expect(normalize(c.frames)).toStrictEqual(normalize(oneShot.frames));
  });

  it('one byte at a time from a copy (no shared memory) gives the same frames', () => {
    const bytes: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) bytes.push(Buffer.from([stream[i]!]));
    const c = new Collector().pushAll(bytes);
    expect(normalize(c.frames)).toStrictEqual(normalize(oneShot.frames));
  });

  it.each([1, 2, 3, 42, 1234, 99999])('random chunkings (seed %i) give the same frames', (seed) => {
    const random = rng(seed);
    const points = new Set<number>();
    const count = 1 + Math.floor(random() * 200);
    for (let i = 0; i < count; i++) points.add(1 + Math.floor(random() * (stream.length - 1)));
    const c = new Collector().push(
      ...cut(
        stream,
        [...points].sort((a, b) => a - b),
      ),
    );
    expect(c.errors).toEqual([]);
    expect(normalize(c.frames)).toStrictEqual(normalize(oneShot.frames));
  });

  it('chunks cut right at every header boundary (6/7/8 bytes into a frame) give the same frames', () => {
    const frames = splitFrames(stream);
    for (const k of [1, 6, 7, 8]) {
      const points: number[] = [];
      let off = 0;
      for (const f of frames) {
        if (k < f.length) points.push(off + k);
        off += f.length;
      }
      const c = new Collector().push(...cut(stream, points));
      expect(normalize(c.frames), `cut at +${k}`).toStrictEqual(normalize(oneShot.frames));
    }
  });

  it('empty chunks are harmless', () => {
    const c = new Collector().push(Buffer.alloc(0), stream.subarray(0, 5), Buffer.alloc(0), stream.subarray(5));
    expect(normalize(c.frames)).toStrictEqual(normalize(oneShot.frames));
  });

  it('midFrame is true only while a frame is partly received', () => {
    const c = new Collector();
    const hb = hex('08 0000 00000000 ce');
    expect(c.decoder.midFrame).toBe(false);
    c.push(hb.subarray(0, 3));
    expect(c.decoder.midFrame).toBe(true);
    c.push(hb.subarray(3, 7));
    expect(c.decoder.midFrame).toBe(true);
    c.push(hb.subarray(7));
    expect(c.decoder.midFrame).toBe(false);
    expect(c.frames).toEqual([{ type: 8, channel: 0 }]);
  });

  it('a body frame whole inside a chunk is a view of that chunk', () => {
    const w = new BufferWriter();
    writePublish(w, 1, {}, {}, Buffer.from('payload-bytes'), 4096);
    const chunk = Buffer.from(w.take()!);
    const c = new Collector().push(chunk);
    const body = c.frames[2] as BodyFrame;
    expect(body.payload.toString()).toBe('payload-bytes');
    expect(body.payload.buffer).toBe(chunk.buffer);
  });
});

describe('FrameDecoder errors', () => {
  it('a 0xFFFFFFFF size header is refused from the 7 header bytes alone (501), allocating nothing', () => {
    globalThis.gc?.();
    const before = process.memoryUsage().arrayBuffers;
    const c = new Collector(128 * 1024);
    c.push(hex('03 0001 ffffffff'));
    const after = process.memoryUsage().arrayBuffers;
    expect(c.errors).toHaveLength(1);
    expect(c.errors[0]!.replyCode).toBe(501);
    expect(c.errors[0]!.message).toContain('frame_max');
    expect(after - before).toBeLessThan(1024 * 1024);
    expect(c.decoder.hasFailed).toBe(true);
  });

  it('the same when the 7 header bytes arrive one at a time', () => {
    const c = new Collector(4096);
    const header = hex('01 0000 ffffffff');
    for (let i = 0; i < 6; i++) {
      c.push(header.subarray(i, i + 1));
      expect(c.errors).toEqual([]);
    }
    c.push(header.subarray(6));
    expect(c.errors.map((e) => e.replyCode)).toEqual([501]);
  });

  it('frame size is checked against maxFrameSize inclusive of the 8 bytes overhead', () => {
    const ok = new Collector(4096).push(rawFrame(3, 1, Buffer.alloc(4096 - FRAME_OVERHEAD)));
    expect(ok.errors).toEqual([]);
    expect(ok.frames).toHaveLength(1);
    const tooBig = new Collector(4096).push(rawFrame(3, 1, Buffer.alloc(4096 - FRAME_OVERHEAD + 1)));
    expect(tooBig.frames).toEqual([]);
    expect(tooBig.errors.map((e) => e.replyCode)).toEqual([501]);
  });

  it('maxFrameSize can be raised after construction (after tune) and 0 disables the limit', () => {
    const c = new Collector(4096);
    c.decoder.maxFrameSize = 0;
    c.push(rawFrame(3, 1, Buffer.alloc(200_000)));
    expect(c.errors).toEqual([]);
    expect((c.frames[0] as BodyFrame).payload.length).toBe(200_000);
  });

  it('a bad frame-end octet → 501', () => {
    const c = new Collector().push(rawFrame(8, 0, Buffer.alloc(0), 0xcd));
    expect(c.frames).toEqual([]);
    expect(c.errors.map((e) => e.replyCode)).toEqual([501]);
    expect(c.errors[0]!.message).toContain('frame-end');
  });

  it('a bad frame-end after a frame split across chunks → 501', () => {
    const bytes = rawFrame(3, 1, Buffer.alloc(100, 1), 0x00);
    const c = new Collector().push(bytes.subarray(0, 50), bytes.subarray(50));
    expect(c.errors.map((e) => e.replyCode)).toEqual([501]);
  });

  it('a short method payload → 502', () => {
    // queue.declare ids only, no arguments
    expect(new Collector().push(rawFrame(1, 1, hex('0032 000a'))).errors.map((e) => e.replyCode)).toEqual([502]);
    // not even a method id
    expect(new Collector().push(rawFrame(1, 1, hex('00'))).errors.map((e) => e.replyCode)).toEqual([502]);
    // shortstr length past the end
    expect(new Collector().push(rawFrame(1, 1, hex('003c 0015 05 6162'))).errors.map((e) => e.replyCode)).toEqual([
      502,
    ]);
  });

  it('an unknown class or method → 540', () => {
    const unknownClass = new Collector().push(rawFrame(1, 1, hex('0063 000a')));
    expect(unknownClass.errors.map((e) => e.replyCode)).toEqual([540]);
    expect(unknownClass.errors[0]!.classId).toBe(0x63);
    const unknownMethod = new Collector().push(rawFrame(1, 1, hex('003c 00ff')));
    expect(unknownMethod.errors.map((e) => e.replyCode)).toEqual([540]);
    expect(unknownMethod.errors[0]!.methodId).toBe(0xff);
    // access.request (class 30) is deliberately not spoken
    expect(new Collector().push(rawFrame(1, 1, hex('001e 000a 00 00'))).errors.map((e) => e.replyCode)).toEqual([540]);
  });

  it('trailing bytes after the method arguments → 502', () => {
    const c = new Collector().push(rawFrame(1, 1, hex('0014 0014 01 00'))); // channel.flow + one extra byte
    expect(c.errors.map((e) => e.replyCode)).toEqual([502]);
    expect(c.errors[0]!.message).toContain('trailing');
  });

  // A content header's properties are confined to its frame: one that cannot be decoded fails only its
  // message (reported with the header as decodeError), not the stream (see lenient-decode.test.ts).
  const undecodableHeader = (c: Collector) => {
    expect(c.errors).toEqual([]);
    expect(c.decoder.hasFailed).toBe(false);
    const h = c.frames[0] as Frame & { decodeError?: ProtocolError; properties: object };
    expect(h.properties).toEqual({});
    expect(h.decodeError?.code).toBe('ERR_DECODE_PROPERTIES');
    expect((h.decodeError?.cause as ProtocolError | undefined)?.replyCode).toBe(502);
  };

  it('trailing bytes after the content header properties → the header with a decodeError (502 cause)', () => {
    undecodableHeader(new Collector().push(rawFrame(2, 1, hex('003c 0000 0000000000000000 0000 ff'))));
  });

  it('a content header for a class other than basic → 505', () => {
    const c = new Collector().push(rawFrame(2, 1, hex('0032 0000 0000000000000000 0000')));
    expect(c.errors.map((e) => e.replyCode)).toEqual([505]);
  });

  it('unknown property flag bits (continuation bit) → the header with a decodeError (502 cause)', () => {
    undecodableHeader(new Collector().push(rawFrame(2, 1, hex('003c 0000 0000000000000000 0001'))));
  });

  it('a body size beyond 2^53 → 502', () => {
    const c = new Collector().push(rawFrame(2, 1, hex('003c 0000 ffffffffffffffff 0000')));
    expect(c.errors.map((e) => e.replyCode)).toEqual([502]);
  });

  it.each([0, 4, 5, 7, 9, 0xce, 0xff])('unknown frame type %i → 501', (type) => {
    const c = new Collector().push(rawFrame(8, 0, Buffer.alloc(0)), rawFrame(type, 0, Buffer.alloc(0)));
    expect(c.frames).toEqual([{ type: 8, channel: 0 }]);
    expect(c.errors.map((e) => e.replyCode)).toEqual([501]);
    expect(c.errors[0]!.message).toContain(`unknown frame type ${type}`);
  });

  it('a heartbeat on a channel other than 0 → 501', () => {
    const c = new Collector().push(rawFrame(8, 5, Buffer.alloc(0)));
    expect(c.frames).toEqual([]);
    expect(c.errors.map((e) => e.replyCode)).toEqual([501]);
    expect(c.errors[0]!.message).toContain('heartbeat');
  });

  it('a heartbeat with a payload → 501', () => {
    const c = new Collector().push(rawFrame(8, 0, hex('00')));
    expect(c.errors.map((e) => e.replyCode)).toEqual([501]);
  });

  it('a protocol header reply ("AMQP\\0\\0\\9\\1") → 501 with a clear message', () => {
    const c = new Collector().push(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
    expect(c.frames).toEqual([]);
    expect(c.errors).toHaveLength(1);
    expect(c.errors[0]!.replyCode).toBe(501);
    expect(c.errors[0]!.message).toMatch(/protocol header/);
    expect(c.errors[0]!.message).toMatch(/AMQP 0-9-1/);
  });

  it('a protocol header reply arriving byte by byte → the same single 501', () => {
    const c = new Collector();
    for (const b of Buffer.from('AMQP\x00\x00\x09\x01', 'latin1')) c.push(Buffer.from([b]));
    expect(c.errors.map((e) => e.replyCode)).toEqual([501]);
    expect(c.errors[0]!.message).toMatch(/protocol header/);
  });

  it('after an error the decoder ignores further input and reports only once', () => {
    const good = rawFrame(8, 0, Buffer.alloc(0));
    const c = new Collector().push(Buffer.concat([good, rawFrame(8, 3, Buffer.alloc(0)), good]));
    expect(c.frames).toEqual([{ type: 8, channel: 0 }]); // the frame before the error is delivered
    expect(c.errors).toHaveLength(1);
    c.push(good, rawFrame(9, 0, Buffer.alloc(0)), hex('01 0000 ffffffff'), good);
    expect(c.frames).toHaveLength(1);
    expect(c.errors).toHaveLength(1);
    expect(c.decoder.hasFailed).toBe(true);
  });

  it('an exception thrown by the sink is reported as an error, not thrown out of push', () => {
    const errors: ProtocolError[] = [];
    const decoder = new FrameDecoder(
      frameObjects(
        () => {
          throw new ProtocolError(505, 'out of order');
        },
        (e) => errors.push(e),
      ),
    );
    expect(() => decoder.push(rawFrame(8, 0, Buffer.alloc(0)))).not.toThrow();
    expect(errors.map((e) => e.replyCode)).toEqual([505]);
  });

  it('never throws on random garbage and reports at most one error', () => {
    const random = rng(7);
    for (let run = 0; run < 200; run++) {
      const bytes = Buffer.alloc(1 + Math.floor(random() * 300));
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
      // Bias towards plausible headers: a valid type and a small size.
      if (run % 2 === 0) {
        bytes[0] = [1, 2, 3, 8][run % 4]!;
        if (bytes.length > 7) bytes.writeUInt32BE(Math.floor(random() * bytes.length), 3);
      }
      const c = new Collector();
      c.push(bytes.subarray(0, bytes.length >> 1), bytes.subarray(bytes.length >> 1));
      expect(c.errors.length).toBeLessThanOrEqual(1);
      for (const e of c.errors) expect([501, 502, 505, 540]).toContain(e.replyCode);
    }
  });
});

describe('writePublish', () => {
  function decodePublish(bytes: Buffer, maxFrameSize = 1 << 20): Collector {
    const c = new Collector(maxFrameSize).push(bytes);
    expect(c.errors).toEqual([]);
    return c;
  }

  it('splits a 10 000-byte body by frameMax 4096 into 4088 / 4088 / 1824', () => {
    const body = Buffer.alloc(10_000);
    for (let i = 0; i < body.length; i++) body[i] = i % 251;
    const w = new BufferWriter();
    expect(writePublish(w, 7, { exchange: 'x' }, { contentType: 'a/b' }, body, 4096)).toBeNull();
    const bytes = Buffer.from(w.take()!);
    const c = decodePublish(bytes, 4096);
    expect(c.frames.map((f) => f.type)).toEqual([1, 2, 3, 3, 3]);
    const bodies = c.frames.slice(2) as BodyFrame[];
    expect(bodies.map((f) => f.payload.length)).toEqual([4088, 4088, 1824]);
    expect(bodies.every((f) => f.channel === 7)).toBe(true);
    expect(Buffer.concat(bodies.map((f) => f.payload))).toEqual(body);
    expect(c.frames[1]).toMatchObject({ type: 2, bodySize: 10_000, properties: { contentType: 'a/b' } });
    // Every frame fits frameMax.
    expect(Math.max(...splitFrames(bytes).map((f) => f.length))).toBeLessThanOrEqual(4096);
  });

  it('a body that is an exact multiple of the frame payload gives no empty trailing frame', () => {
    const w = new BufferWriter();
    writePublish(w, 1, {}, {}, Buffer.alloc(2 * 4088, 1), 4096);
    const c = decodePublish(Buffer.from(w.take()!), 4096);
    expect((c.frames.slice(2) as BodyFrame[]).map((f) => f.payload.length)).toEqual([4088, 4088]);
  });

  it('an empty body gives no body frame', () => {
    const w = new BufferWriter();
    expect(writePublish(w, 1, { routingKey: 'q' }, { deliveryMode: 2 }, Buffer.alloc(0), 4096)).toBeNull();
    const c = decodePublish(Buffer.from(w.take()!));
    expect(c.frames.map((f) => f.type)).toEqual([1, 2]);
    expect(c.frames[1]).toMatchObject({ bodySize: 0, properties: { deliveryMode: 2 } });
  });

  it('a body up to COPY_BODY_LIMIT is copied into the writer', () => {
    const body = Buffer.alloc(COPY_BODY_LIMIT, 3);
    const w = new BufferWriter();
    expect(writePublish(w, 1, {}, {}, body, 131072)).toBeNull();
    const out = w.take()!;
    expect(out.buffer).not.toBe(body.buffer);
    const c = decodePublish(Buffer.from(out));
    expect((c.frames[2] as BodyFrame).payload).toEqual(body);
  });

  it('a body over COPY_BODY_LIMIT comes back as chunks that reference the caller’s bytes', () => {
    const backing = new Uint8Array(COPY_BODY_LIMIT * 4);
    for (let i = 0; i < backing.length; i++) backing[i] = (i * 7) % 256;
    // A view with a non-zero offset, to catch a view made from the wrong offset.
    const body = backing.subarray(1000, 1000 + 3 * COPY_BODY_LIMIT + 17);
    const frameMax = 131072;
    const w = new BufferWriter();
    const props: BasicProperties = { messageId: 'big', headers: { part: 1 } };
    const chunks = writePublish(w, 2, { exchange: 'big', routingKey: 'rk' }, props, body, frameMax);
    expect(chunks).not.toBeNull();
    expect(w.pending).toBe(0);

    const views = chunks!.filter((c) => c.buffer === backing.buffer);
    const expectedFrames = Math.ceil(body.length / (frameMax - FRAME_OVERHEAD));
    expect(views).toHaveLength(expectedFrames);
    let expectedOffset = body.byteOffset;
    for (const v of views) {
      expect(v.byteOffset).toBe(expectedOffset);
      expectedOffset += v.length;
    }
    expect(expectedOffset).toBe(body.byteOffset + body.length);

    const c = decodePublish(Buffer.concat(chunks!), frameMax);
    expect(c.frames[0]).toMatchObject({ type: 1, channel: 2, method: { name: 'basic.publish', exchange: 'big' } });
    expect(c.frames[1]).toEqual({ type: 2, channel: 2, classId: 60, bodySize: body.length, properties: props });
    const bodies = c.frames.slice(2) as BodyFrame[];
    expect(bodies).toHaveLength(expectedFrames);
    expect(Buffer.concat(bodies.map((f) => f.payload)).equals(Buffer.from(body))).toBe(true);
  });

  it('the writer stays usable after a large publish and frames keep their order', () => {
    const w = new BufferWriter(256);
    writeMethodFrame(w, 1, 'basic.ack', { deliveryTag: 1 });
    const first = w.take()!;
    const chunks = writePublish(w, 1, {}, {}, Buffer.alloc(COPY_BODY_LIMIT + 1, 9), 131072)!;
    writeMethodFrame(w, 1, 'basic.ack', { deliveryTag: 2 });
    const last = w.take()!;
    const c = decodePublish(Buffer.concat([first, ...chunks, last]));
    expect(c.frames.map((f) => f.type)).toEqual([1, 1, 2, 3, 1]);
    expect(c.frames[4]).toMatchObject({ method: { name: 'basic.ack', deliveryTag: 2 } });
  });
});

/** A basic.deliver with `body` as its content, framed with frame_max 128 KiB, as one byte stream. */
function deliverStream(body: Buffer): Buffer {
  const w = new BufferWriter();
  writeMethodFrame(w, 1, 'basic.deliver', {
    consumerTag: 'c',
    deliveryTag: 1,
    redelivered: false,
    exchange: '',
    routingKey: 'q',
  });
  const chunks = writePublish(w, 1, { exchange: '' }, {}, body, 128 * 1024);
  const all = Buffer.concat(chunks ?? [w.take()!]);
  // writePublish wrote a basic.publish too: keep the deliver, the header and the body frames.
  const frames = splitFrames(all);
  return Buffer.concat([frames[0]!, ...frames.slice(2)]);
}

/**
 * A decoder whose sink appends body bytes into a ContentAssembler, as a channel does; with `inPlace`, also
 * the hooks a channel gives for reads in place (the assembler's target and placed).
 */
function assemblingDecoder({ inPlace }: { inPlace: boolean }) {
  const assembler = new ContentAssembler();
  const messages: ContentMessage[] = [];
  const parts: Buffer[] = [];
  const errors: ProtocolError[] = [];
  const take = (m: ContentMessage | null) => m && messages.push(m);
  const sink: FrameSink = {
    method: (_ch, m) => assembler.start(m),
    header: (_ch, size, props) => take(assembler.header(size, props)),
    body: (_ch, payload) => take(assembler.body(payload)),
    bodyPart: (_ch, part) => {
      parts.push(part);
      take(assembler.body(part));
    },
    heartbeat: () => {},
    error: (e) => errors.push(e),
  };
  if (inPlace) {
    sink.bodyTarget = (_ch, n) => assembler.target(n) ?? undefined;
    sink.bodyPlaced = (_ch, n) => take(assembler.placed(n));
  }
  return { decoder: new FrameDecoder(sink, 128 * 1024), messages, parts, errors };
}

describe('FrameDecoder: body frames split across reads, to a sink that takes parts', () => {
  const assembling = () => assemblingDecoder({ inPlace: false });

  it('a 1 MiB body in 8 frames read in 64 KiB chunks is allocated once (the body), never per frame', () => {
    const body = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
    const stream = deliverStream(body);
    const chunks: Buffer[] = [];
    for (let off = 0; off < stream.length; off += 64 * 1024) chunks.push(stream.subarray(off, off + 64 * 1024));
    const { decoder, messages, parts, errors } = assembling();
    const alloc = vi.spyOn(Buffer, 'allocUnsafe');
    let sizes: number[];
    try {
      for (const c of chunks) decoder.push(c);
    } finally {
      sizes = alloc.mock.calls.map(([n]) => n);
      alloc.mockRestore();
    }
    expect(errors).toEqual([]);
    expect(messages).toHaveLength(1);
    expect(messages[0]!.body.equals(body)).toBe(true);
    // Only the body's own buffer; before, every frame spanning two reads was gathered first (8 more).
    expect(sizes.filter((n) => n >= 64 * 1024)).toEqual([body.length]);
    expect(parts.length).toBeGreaterThan(0);
    expect(parts.every((p) => chunks.some((c) => c.buffer === p.buffer))).toBe(true);
    expect(decoder.midFrame).toBe(false);
  });

  it('the same under any chunking, one byte at a time included', () => {
    const body = Buffer.alloc(300 * 1024, 7);
    body[body.length - 1] = 9;
    const stream = deliverStream(body);
    for (const step of [1, 7, 1000, 65_536, 200_000]) {
      const { decoder, messages, errors } = assembling();
      for (let off = 0; off < stream.length; off += step) decoder.push(stream.subarray(off, off + step));
      expect(errors, `step ${step}`).toEqual([]);
      expect(messages).toHaveLength(1);
      expect(messages[0]!.body.equals(body), `step ${step}`).toBe(true);
    }
  });

  it('a bad frame-end octet after a body received in parts is a 501, and the message is never completed', () => {
    const body = Buffer.alloc(200 * 1024, 1);
    const stream = Buffer.from(deliverStream(body));
    stream[stream.length - 1] = 0x00; // the last body frame's end octet
    const { decoder, messages, errors } = assembling();
    decoder.push(stream.subarray(0, stream.length - 10));
    expect(decoder.midFrame).toBe(true);
    decoder.push(stream.subarray(stream.length - 10));
    expect(errors).toHaveLength(1);
    expect(errors[0]!.replyCode).toBe(501);
    expect(errors[0]!.message).toContain('frame-end');
    expect(messages).toEqual([]);
  });
});

describe('FrameDecoder: body bytes read in place, into the body’s own buffer', () => {
  const placing = () => assemblingDecoder({ inPlace: true });

  /**
   * Feeds `stream` the way SlabReads does: before each read it asks the decoder where the bytes should go
   * (a view of the body, or at most how many); a read takes at most `step` bytes of what is left.
   */
  function read(decoder: FrameDecoder, stream: Buffer, step: number) {
    let off = 0;
    let placedBytes = 0;
    let reads = 0;
    while (off < stream.length && !decoder.hasFailed) {
      reads++;
      const into = decoder.readInto();
      if (into !== undefined) {
        const n = Math.min(into.length, step, stream.length - off);
        stream.copy(into, 0, off, off + n); // the kernel's copy, as read(2) into that view
        off += n;
        placedBytes += n;
        decoder.placed(n);
        continue;
      }
      const limit = decoder.readAtMost();
      const n = Math.min(limit > 0 ? limit : 64 * 1024, step, stream.length - off);
      decoder.push(Buffer.from(stream.subarray(off, off + n))); // a slab of its own, as a fresh read
      off += n;
    }
    return { placedBytes, reads };
  }

  it('a 1 MiB body in 8 frames lands in its buffer in place: no slab copy of its bytes, one allocation', () => {
    const body = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
    const stream = deliverStream(body);
    const { decoder, messages, errors } = placing();
    const alloc = vi.spyOn(Buffer, 'allocUnsafe');
    const copy = vi.spyOn(Buffer.prototype, 'copy');
    let sizes: number[];
    let copied: number;
    let placedBytes: number;
    try {
      ({ placedBytes } = read(decoder, stream, 64 * 1024));
    } finally {
      sizes = alloc.mock.calls.map(([n]) => n);
      // Copies the decoder and the assembler made (the simulated kernel's copies are made by `read`, on
      // `stream`, which is the receiver there; those are left out).
      copied = 0;
      copy.mock.calls.forEach((args, i) => {
        const self = copy.mock.contexts[i] as Buffer;
        const [, , start = 0, end = self.length] = args as [Uint8Array, number?, number?, number?];
        if (self !== stream) copied += end - start;
      });
      alloc.mockRestore();
      copy.mockRestore();
    }
    expect(errors).toEqual([]);
    expect(messages).toHaveLength(1);
    expect(messages[0]!.body.equals(body)).toBe(true);
    expect(sizes.filter((n) => n >= 64 * 1024)).toEqual([body.length]);
    // Read in place: all but what came with the first read (its 64 KiB hold the first frame's header too)
    // and the 64-byte last frame, which is below IN_PLACE_MIN. Before: 0 bytes in place, 1 MiB copied.
    expect(placedBytes).toBeGreaterThan(body.length - 65 * 1024);
    expect(copied).toBeLessThan(65 * 1024);
    expect(decoder.midFrame).toBe(false);
  });

  it('any read size gives the same body, the next message after it intact', () => {
    const body = Buffer.alloc(300 * 1024 + 5, 7);
    body[body.length - 1] = 9;
    const small = Buffer.from('after');
    const stream = Buffer.concat([deliverStream(body), deliverStream(small)]);
    for (const step of [1, 7, 1000, 16 * 1024 + 3, 65_536, 200_000]) {
      const { decoder, messages, errors } = placing();
      read(decoder, stream, step);
      expect(errors, `step ${step}`).toEqual([]);
      expect(
        messages.map((m) => m.body.length),
        `step ${step}`,
      ).toEqual([body.length, small.length]);
      expect(messages[0]!.body.equals(body), `step ${step}`).toBe(true);
      expect(messages[1]!.body.equals(small), `step ${step}`).toBe(true);
    }
  });

  it('between two full body frames the next read takes only the frame end and the next header', () => {
    const stream = deliverStream(Buffer.alloc(512 * 1024, 3));
    const { decoder } = placing();
    const limits: number[] = [];
    let off = 0;
    while (off < stream.length) {
      const into = decoder.readInto();
      if (into !== undefined) {
        const n = Math.min(into.length, stream.length - off);
        stream.copy(into, 0, off, off + n);
        off += n;
        decoder.placed(n);
        continue;
      }
      const limit = decoder.readAtMost();
      limits.push(limit);
      const n = Math.min(limit > 0 ? limit : 64 * 1024, stream.length - off);
      decoder.push(stream.subarray(off, off + n));
      off += n;
    }
    // 512 KiB = 4 full frames (131 064 bytes of payload each) and 32 bytes: a read of 8 bytes (frame-end +
    // the next 7-byte header) after each full frame, none otherwise.
    expect(limits.filter((l) => l === 8)).toHaveLength(4);
    expect(limits.filter((l) => l !== 8 && l !== 0)).toEqual([]);
  });

  it('a bad frame-end octet after bytes read in place is a 501, and the message is never completed', () => {
    const body = Buffer.alloc(200 * 1024, 1);
    const stream = Buffer.from(deliverStream(body));
    stream[stream.length - 1] = 0x00;
    const { decoder, messages, errors } = placing();
    read(decoder, stream, 64 * 1024);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.replyCode).toBe(501);
    expect(errors[0]!.message).toContain('frame-end');
    expect(messages).toEqual([]);
  });

  it('a target the sink cannot make (it throws) is a 501 through the sink, never a throw out of readInto', () => {
    const errors: ProtocolError[] = [];
    const decoder = new FrameDecoder(
      {
        ...frameObjects(
          () => {},
          (e) => errors.push(e),
        ),
        bodyPart: () => {},
        bodyTarget: () => {
          throw new RangeError('Array buffer allocation failed');
        },
        bodyPlaced: () => {},
      },
      128 * 1024,
    );
    decoder.push(deliverStream(Buffer.alloc(200 * 1024)).subarray(0, 70 * 1024));
    expect(() => decoder.readInto()).not.toThrow();
    expect(errors.map((e) => e.replyCode)).toEqual([501]);
    expect(errors[0]!.message).toContain('allocation failed');
    expect(decoder.readInto()).toBeUndefined();
  });

  it('a sink without the in-place hooks is never asked for a target: all bytes come as chunks', () => {
    const decoder = new FrameDecoder(
      frameObjects(
        () => {},
        () => {},
      ),
      128 * 1024,
    );
    decoder.push(deliverStream(Buffer.alloc(200 * 1024)).subarray(0, 70 * 1024));
    expect(decoder.readInto()).toBeUndefined();
  });
});

describe('ContentAssembler', () => {
  function deliver(tag: number): Method {
    return {
      name: 'basic.deliver',
      consumerTag: 'c',
      deliveryTag: tag,
      redelivered: false,
      exchange: 'e',
      routingKey: 'r',
    };
  }
  /** The arguments of a content header: body size and properties. */
  function header(bodySize: number, properties: BasicProperties = {}): [number, BasicProperties] {
    return [bodySize, properties];
  }

  it('a single-frame body is the frame payload itself (same memory, no copy)', () => {
    // Decode a real delivery from one chunk and assemble it.
    const w = new BufferWriter();
    writeMethodFrame(w, 1, 'basic.deliver', {
      consumerTag: 'c',
      deliveryTag: 1,
      exchange: 'e',
      routingKey: 'r',
    });
    writePublish(w, 1, {}, { contentType: 'text/plain' }, Buffer.from('hello world'), 4096);
    const chunk = Buffer.from(w.take()!);
    // drop the publish method frame the helper wrote: keep deliver, header, body
    const frames = new Collector()
      .push(chunk)
      .frames.filter((f) => !(f.type === 1 && f.method.name === 'basic.publish'));
    const a = new ContentAssembler();
    let message: ContentMessage | null = null;
    for (const f of frames) {
      if (f.type === 1) a.start(f.method);
      else if (f.type === 2) expect(a.header(f.bodySize, f.properties)).toBeNull();
      else if (f.type === 3) message = a.body(f.payload);
    }
    expect(message).not.toBeNull();
    const payload = (frames[2] as BodyFrame).payload;
    expect(message!.body).toBe(payload);
    expect(message!.body.buffer).toBe(chunk.buffer);
    expect(message!.body.byteOffset).toBe(chunk.byteOffset + chunk.length - 1 - 11);
    expect(message!.body.toString()).toBe('hello world');
    expect(message!.properties).toEqual({ contentType: 'text/plain' });
    expect(message!.method).toMatchObject({ name: 'basic.deliver', deliveryTag: 1 });
    expect(a.busy).toBe(false);
  });

  it('a multi-frame body is gathered in order', () => {
    const a = new ContentAssembler();
    a.start(deliver(5));
    expect(a.busy).toBe(true);
    expect(a.header(...header(10, { priority: 1 }))).toBeNull();
    expect(a.body(Buffer.from('abc'))).toBeNull();
    expect(a.body(Buffer.from('defg'))).toBeNull();
    const m = a.body(Buffer.from('hij'))!;
    expect(m.body.toString()).toBe('abcdefghij');
    expect(m.properties).toEqual({ priority: 1 });
    expect(m.method).toEqual(deliver(5));
    expect(a.busy).toBe(false);
  });

  it('a gathered body does not alias the frames (they may be reused)', () => {
    const a = new ContentAssembler();
    a.start(deliver(1));
    a.header(...header(4));
    const first = Buffer.from('ab');
    const second = Buffer.from('cd');
    a.body(first);
    const m = a.body(second)!;
    first.fill(0);
    second.fill(0);
    expect(m.body.toString()).toBe('abcd');
  });

  it('an empty body completes at the header', () => {
    const a = new ContentAssembler();
    a.start(deliver(1));
    const m = a.header(...header(0, { type: 't' }))!;
    expect(m.body.length).toBe(0);
    expect(m.properties).toEqual({ type: 't' });
    expect(a.busy).toBe(false);
  });

  it('consecutive messages are independent', () => {
    const a = new ContentAssembler();
    for (let i = 1; i <= 3; i++) {
      a.start(deliver(i));
      a.header(...header(2));
      a.body(Buffer.from('x'));
      const m = a.body(Buffer.from(String(i)))!;
      expect(m.body.toString()).toBe(`x${i}`);
      expect(m.method).toMatchObject({ deliveryTag: i });
    }
  });

  it('out-of-order frames → 505', () => {
    expect(thrown(ProtocolError, () => new ContentAssembler().header(...header(1))).replyCode).toBe(505);
    expect(thrown(ProtocolError, () => new ContentAssembler().body(Buffer.from('x'))).replyCode).toBe(505);
    const a = new ContentAssembler();
    a.start(deliver(1));
    expect(thrown(ProtocolError, () => a.body(Buffer.from('x'))).replyCode).toBe(505); // body before header
    const b = new ContentAssembler();
    b.start(deliver(1));
    b.header(...header(5));
    expect(thrown(ProtocolError, () => b.header(...header(5))).replyCode).toBe(505); // second header
  });

  it('a method while content is incomplete → 505 (before the header and mid-body)', () => {
    const a = new ContentAssembler();
    a.start(deliver(1));
    expect(thrown(ProtocolError, () => a.start(deliver(2))).replyCode).toBe(505);
    const b = new ContentAssembler();
    b.start(deliver(1));
    b.header(...header(5));
    b.body(Buffer.from('ab'));
    const err = thrown(ProtocolError, () => b.start(deliver(2)));
    expect(err.replyCode).toBe(505);
    expect(err.message).toContain('basic.deliver');
  });

  it('a body longer than the declared size → 501', () => {
    const a = new ContentAssembler();
    a.start(deliver(1));
    a.header(...header(3));
    expect(thrown(ProtocolError, () => a.body(Buffer.from('abcd'))).replyCode).toBe(501);
    const b = new ContentAssembler();
    b.start(deliver(1));
    b.header(...header(3));
    b.body(Buffer.from('ab'));
    expect(thrown(ProtocolError, () => b.body(Buffer.from('cd'))).replyCode).toBe(501);
  });

  it('reset forgets a partial message', () => {
    const a = new ContentAssembler();
    a.start(deliver(1));
    a.header(...header(5));
    a.body(Buffer.from('ab'));
    a.reset();
    expect(a.busy).toBe(false);
    a.start(deliver(2));
    a.header(...header(1));
    expect(a.body(Buffer.from('z'))!.body.toString()).toBe('z');
  });
});

describe('atomic encoding', () => {
  it('a 256-byte routingKey throws an EncodeError naming the field and leaves nothing pending', () => {
    const w = new BufferWriter();
    const err = thrown(EncodeError, () => writeMethodFrame(w, 1, 'basic.publish', { routingKey: 'r'.repeat(256) }));
    expect(err.message).toContain('routingKey');
    expect(err.message).toContain('255');
    expect(w.pending).toBe(0);
    expect(w.take()).toBeNull();
  });

  it('bytes encoded before the failed frame stay, and the next frame follows them directly', () => {
    const w = new BufferWriter();
    writeMethodFrame(w, 1, 'basic.ack', { deliveryTag: 1 });
    const before = w.pending;
    thrown(EncodeError, () =>
      writeMethodFrame(w, 1, 'queue.declare', { queue: 'q', arguments: { bad: typed('B', 256) } }),
    );
    expect(w.pending).toBe(before);
    writeMethodFrame(w, 1, 'basic.ack', { deliveryTag: 2 });
    const c = new Collector().push(Buffer.from(w.take()!));
    expect(c.errors).toEqual([]);
    expect(c.frames.map((f) => (f.type === 1 ? f.method : f))).toEqual([
      { name: 'basic.ack', deliveryTag: 1, multiple: false },
      { name: 'basic.ack', deliveryTag: 2, multiple: false },
    ]);
  });

  it('a failed writePublish (bad property) leaves nothing pending and names the property', () => {
    const w = new BufferWriter();
    const err = thrown(EncodeError, () =>
      writePublish(w, 1, { exchange: 'e' }, { priority: 256 }, Buffer.alloc(10), 4096),
    );
    expect(err.message).toContain('properties.priority');
    expect(w.pending).toBe(0);
    const err2 = thrown(EncodeError, () =>
      writePublish(w, 1, {}, { headers: { 'x-n': 5n ** 40n } }, Buffer.alloc(COPY_BODY_LIMIT + 1), 131072),
    );
    expect(err2.message).toContain('properties.headers["x-n"]');
    expect(w.pending).toBe(0);
  });

  it('a failed encode that made the writer grow after a take() still leaves nothing pending', () => {
    // Regression: atomically() remembers an absolute write position, so growing the writer mid-encode must
    // keep offsets stable; an ensure() that moved the untaken bytes to offset 0 made rewind(mark) leave
    // already-taken bytes "pending", to be sent again with the next flush.
    const w = new BufferWriter(64);
    writeMethodFrame(w, 1, 'basic.ack', { deliveryTag: 1 });
    const taken = w.take()!; // start > 0 now
    expect(taken.length).toBe(21);
    // The arguments table outgrows the 64-byte buffer before the invalid value is reached.
    thrown(EncodeError, () =>
      writeMethodFrame(w, 1, 'queue.declare', {
        queue: 'q',
        arguments: { pad: 'x'.repeat(100), bad: typed('B', 256) },
      }),
    );
    expect(w.pending).toBe(0);
    writeMethodFrame(w, 1, 'basic.ack', { deliveryTag: 2 });
    const c = new Collector().push(Buffer.from(w.take()!));
    expect(c.errors).toEqual([]);
    expect(c.frames).toHaveLength(1);
  });

  it('a routingKey of 255 multi-byte-safe bytes is accepted (boundary)', () => {
    const w = new BufferWriter();
    writeMethodFrame(w, 1, 'basic.publish', { routingKey: `${'é'.repeat(127)}a` }); // 255 bytes
    const c = new Collector().push(Buffer.from(w.take()!));
    expect(c.frames[0]).toMatchObject({ method: { routingKey: `${'é'.repeat(127)}a` } });
    expect(
      thrown(EncodeError, () => writeMethodFrame(w, 1, 'basic.publish', { routingKey: 'é'.repeat(128) })).message,
    ).toContain('routingKey');
    expect(w.pending).toBe(0);
  });
});

describe('frame_max on encode', () => {
  // queue.declare { queue: 'q', arguments: { p: 'x' × n } } is a frame of 7 + 1 + payload bytes, where
  // payload = ids 4 + ticket 2 + "q" 2 + bits 1 + table length 4 + key "p" 2 + 'S' 1 + length 4 + n = 20 + n.
  const declare = (n: number) => ({ queue: 'q', arguments: { p: 'x'.repeat(n) } });

  it('a method frame of exactly frame_max is accepted, one byte more is an EncodeError', () => {
    const w = new BufferWriter();
    writeMethodFrame(w, 1, 'queue.declare', declare(4068), 4096);
    expect(w.pending).toBe(4096);
    const before = w.pending;
    const err = thrown(EncodeError, () => writeMethodFrame(w, 1, 'queue.declare', declare(4069), 4096));
    expect(err.message).toContain('queue.declare');
    expect(err.message).toContain('4097');
    expect(err.message).toContain('frame_max of 4096');
    expect(w.pending).toBe(before);
    // frameMax 0 (the default) means no limit.
    writeMethodFrame(w, 1, 'queue.declare', declare(10_000));
    const c = new Collector(0);
    c.decoder.maxFrameSize = 0;
    c.push(Buffer.from(w.take()!));
    expect(c.errors).toEqual([]);
    expect(c.frames).toHaveLength(2);
  });

  it('a content header over frame_max is an EncodeError and leaves nothing of the publish', () => {
    const w = new BufferWriter();
    writeMethodFrame(w, 1, 'basic.ack', { deliveryTag: 1 });
    const before = w.pending;
    const big = { headers: { pad: 'x'.repeat(5000) } };
    const err = thrown(EncodeError, () => writePublish(w, 1, {}, big, Buffer.alloc(10), 4096));
    expect(err.message).toContain('content header');
    expect(err.message).toContain('frame_max of 4096');
    expect(w.pending).toBe(before);
    thrown(EncodeError, () => writePublish(w, 1, {}, big, Buffer.alloc(COPY_BODY_LIMIT + 1), 4096));
    expect(w.pending).toBe(before);
    // The same properties fit a larger frame_max.
    expect(writePublish(w, 1, {}, big, Buffer.alloc(10), 131072)).toBeNull();
    const c = new Collector().push(Buffer.from(w.take()!));
    expect(c.errors).toEqual([]);
    expect(c.frames.map((f) => f.type)).toEqual([1, 1, 2, 3]);
  });
});
