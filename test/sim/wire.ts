/**
 * Frame I/O of the broker model: one client socket, decoded with warren's own FrameDecoder, and the
 * encoders for what a broker sends (methods, and content: deliver, return, get-ok).
 */
import type { Socket } from 'node:net';
import {
  type BasicProperties,
  BufferWriter,
  encodeBasicProperties,
  FRAME_BODY,
  FRAME_END,
  FRAME_HEADER,
  type Frame,
  FrameDecoder,
  frameObjects,
  type MethodInputs,
  type MethodName,
  PROTOCOL_HEADER,
  writeMethodFrame,
} from '../../src/protocol/index.js';

export interface WireEvents {
  /** The 8-byte protocol header arrived (`ok` false when it was not AMQP 0-9-1). */
  header(ok: boolean): void;
  frame(frame: Frame): void;
  /** The client sent bytes that are not a valid frame. */
  malformed(message: string): void;
  /** The socket is gone. */
  closed(): void;
}

export class Wire {
  private readonly decoder: FrameDecoder;
  private headerBytes: Buffer | null = Buffer.alloc(0);
  private ending = false;
  private readonly w = new BufferWriter(16 * 1024);
  /** Set once the socket closed. */
  gone = false;
  /** Bytes written to the socket so far (a counter, for the trace). */
  written = 0;

  constructor(
    readonly socket: Socket,
    private readonly on: WireEvents,
  ) {
    this.decoder = new FrameDecoder(
      frameObjects(
        (f) => this.on.frame(f),
        (err) => this.on.malformed(err.message),
      ),
      0,
    );
    socket.setNoDelay(true);
    socket.on('error', () => {}); // a client may hang up rudely: that is what is being tested
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.once('close', () => {
      this.gone = true;
      this.on.closed();
    });
  }

  /** Largest frame accepted from the client (frame_max after tune); 0 for no limit. */
  set maxFrameSize(n: number) {
    this.decoder.maxFrameSize = n;
  }

  get open(): boolean {
    return !this.gone && !this.ending && !this.socket.destroyed;
  }

  sendMethod<N extends MethodName>(channel: number, name: N, args: MethodInputs[N]): void {
    if (!this.open) return;
    writeMethodFrame(this.w, channel, name, args);
    this.flush();
  }

  /** A content-bearing method with its header and body frames (body split at `frameMax`). */
  sendContent<N extends MethodName>(
    channel: number,
    name: N,
    args: MethodInputs[N],
    properties: BasicProperties,
    body: Buffer,
    frameMax: number,
  ): void {
    if (!this.open) return;
    const w = this.w;
    writeMethodFrame(w, channel, name, args);
    // Content header: class 60, weight 0, 64-bit body size, properties.
    const at = this.beginFrame(FRAME_HEADER, channel);
    w.u16(60);
    w.u16(0);
    w.u32(Math.floor(body.length / 2 ** 32));
    w.u32(body.length >>> 0);
    encodeBasicProperties(w, properties);
    this.endFrame(at);
    const max = frameMax - 8;
    for (let off = 0; off < body.length; off += max) {
      const part = body.subarray(off, Math.min(body.length, off + max));
      const b = this.beginFrame(FRAME_BODY, channel);
      w.bytes(part);
      this.endFrame(b);
    }
    this.flush();
  }

  /** Sends the raw bytes (the protocol header in answer to a bad one). */
  sendRaw(bytes: Uint8Array): void {
    if (this.open) this.socket.write(bytes);
  }

  /** Stops reading the socket (the broker's flow control; or a broker that went silent). */
  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    if (!this.gone) this.socket.resume();
  }

  /** Half-closes after everything written so far is sent: the client reads all of it, then EOF. */
  end(): void {
    if (this.gone || this.ending) return;
    this.ending = true;
    this.socket.end();
    // The client answers EOF by closing its end; should it not, the socket goes anyway.
    this.socket.setTimeout(2000, () => this.socket.destroy());
  }

  destroy(): void {
    this.ending = true;
    this.socket.destroy();
  }

  private beginFrame(type: number, channel: number): number {
    const w = this.w;
    w.ensure(7);
    const at = w.pos;
    w.buf[at] = type;
    w.buf.writeUInt16BE(channel, at + 1);
    w.pos += 7;
    return at;
  }

  private endFrame(at: number): void {
    const w = this.w;
    w.buf.writeUInt32BE(w.pos - at - 7, at + 3);
    w.u8(FRAME_END);
  }

  private flush(): void {
    const bytes = this.w.take();
    if (bytes === null) return;
    this.written += bytes.length;
    this.socket.write(bytes);
  }

  private onData(chunk: Buffer): void {
    if (this.headerBytes !== null) {
      const all = Buffer.concat([this.headerBytes, chunk]);
      if (all.length < 8) {
        this.headerBytes = all;
        return;
      }
      this.headerBytes = null;
      const ok = all.subarray(0, 8).equals(PROTOCOL_HEADER);
      this.on.header(ok);
      if (!ok) return;
      chunk = all.subarray(8);
      if (chunk.length === 0) return;
    }
    this.decoder.push(chunk);
  }
}

/** Copies a protocol header so RabbitMQ's answer to a wrong one can be sent. */
export const AMQP_HEADER: Buffer = Buffer.from(PROTOCOL_HEADER);
