/**
 * A scripted fake AMQP 0-9-1 server for the hostile tests: it listens on 127.0.0.1 (ephemeral port), reads
 * the client's protocol header and frames (decoded with warren's own FrameDecoder) and lets each test
 * script the answers: a normal handshake up to a chosen step, any method, or raw bytes.
 *
 * It exists only because a real broker cannot be made to send malformed, out-of-order or hostile input.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { ConnectOptions } from '../../src/connection/options.js';
import {
  BufferWriter,
  FRAME_BODY,
  FRAME_END,
  FRAME_HEADER,
  FRAME_HEARTBEAT,
  FRAME_METHOD,
  type Frame,
  FrameDecoder,
  frameObjects,
  type MethodInputs,
  type MethodName,
  type MethodOf,
  type ProtocolError,
  writeMethodFrame,
} from '../../src/protocol/index.js';

/** What the fake server does when the client sends connection.close. */
export type ClientCloseReply =
  /** Answer connection.close-ok and keep the socket open (what RabbitMQ does: it waits for the client to hang up). */
  | 'close-ok'
  /** Answer connection.close-ok, then end the socket. */
  | 'close-ok-then-end'
  /** Say nothing and keep the socket open. */
  | 'ignore'
  /** Destroy the socket without a word. */
  | 'drop';

/** connection.tune values the fake server proposes. */
export interface TuneValues {
  channelMax?: number;
  frameMax?: number;
  heartbeat?: number;
}

/** How far {@link FakePeer.handshake} goes. */
export type HandshakeStep =
  /** Send connection.start, wait for start-ok. */
  | 'start'
  /** ... then send connection.tune, wait for tune-ok and connection.open. */
  | 'tune'
  /** ... then send connection.open-ok: the connection is open. */
  | 'open-ok';

const DEFAULT_TUNE: Required<TuneValues> = { channelMax: 2047, frameMax: 131072, heartbeat: 0 };
const DEFAULT_WAIT_MS = 2000;

/** A method frame the fake server received, with its channel. */
export type Received<N extends MethodName> = MethodOf<N> & { channel: number };

/** The server side of one client connection. */
export class FakePeer {
  /** Every frame received from the client, in order (after the protocol header). */
  readonly frames: Frame[] = [];
  /** The 8 bytes the client sent first, once received. */
  protocolHeader: Buffer | undefined;
  /** A malformed frame from the client (the fake server stops decoding after it). */
  decodeError: ProtocolError | undefined;
  /** Set once the socket has closed (the client hung up, or the test dropped it). */
  closed = false;
  /** Resolves when the socket has closed. */
  readonly whenClosed: Promise<void>;
  /** What to do when the client sends connection.close. */
  onClientClose: ClientCloseReply;

  private readonly decoder: FrameDecoder;
  private headerBytes = Buffer.alloc(0);
  private readonly taken = new Set<number>();
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly socket: Socket,
    onClientClose: ClientCloseReply,
  ) {
    this.onClientClose = onClientClose;
    this.decoder = new FrameDecoder(
      frameObjects(
        (frame) => this.onFrame(frame),
        (err) => {
          this.decodeError = err;
          this.notify();
        },
      ),
    );
    this.decoder.maxFrameSize = 0; // the fake server accepts any size the client sends
    socket.setNoDelay(true);
    socket.on('error', () => {}); // ECONNRESET and the like: the client is allowed to hang up rudely
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.whenClosed = new Promise<void>((resolve) => {
      socket.once('close', () => {
        this.closed = true;
        this.notify();
        resolve();
      });
    });
  }

  /** Names of the methods received so far, as `channel:name`, for failure messages. */
  describe(): string {
    const names = this.frames.map((f) =>
      f.type === FRAME_METHOD ? `${f.channel}:${f.method.name}` : `${f.channel}:frame${f.type}`,
    );
    return names.length ? names.join(', ') : 'nothing';
  }

  /** Method frames received with this name (whether or not a test already waited for them). */
  methods<N extends MethodName>(name: N, channel?: number): Received<N>[] {
    const out: Received<N>[] = [];
    for (const f of this.frames) {
      if (f.type === FRAME_METHOD && f.method.name === name && (channel === undefined || f.channel === channel)) {
        out.push({ ...(f.method as MethodOf<N>), channel: f.channel });
      }
    }
    return out;
  }

  /** Waits for the client's 8-byte protocol header. */
  waitForProtocolHeader(timeoutMs = DEFAULT_WAIT_MS): Promise<Buffer> {
    return this.waitFor(() => this.protocolHeader, 'the protocol header', timeoutMs);
  }

  /**
   * Waits for the first method frame named `name` (on `channel`, if given) that no earlier call took, and
   * takes it. Rejects after `timeoutMs`, or at once when the socket closes without it.
   */
  expectMethod<N extends MethodName>(
    name: N,
    options: { channel?: number; timeoutMs?: number } = {},
  ): Promise<Received<N>> {
    const { channel, timeoutMs = DEFAULT_WAIT_MS } = options;
    return this.waitFor(
      () => {
        for (let i = 0; i < this.frames.length; i++) {
          const f = this.frames[i]!;
          if (this.taken.has(i) || f.type !== FRAME_METHOD || f.method.name !== name) continue;
          if (channel !== undefined && f.channel !== channel) continue;
          this.taken.add(i);
          return { ...(f.method as MethodOf<N>), channel: f.channel };
        }
        return undefined;
      },
      `${name}${channel === undefined ? '' : ` on channel ${channel}`}`,
      timeoutMs,
    );
  }

  /** Waits until the client's socket has closed; rejects after `timeoutMs`. */
  async expectClientGone(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    await this.waitFor(() => (this.closed ? true : undefined), 'the client to close its socket', timeoutMs);
  }

  /** Sends one method frame. */
  send<N extends MethodName>(channel: number, name: N, args: MethodInputs[N]): void {
    const w = new BufferWriter(1024);
    writeMethodFrame(w, channel, name, args);
    this.writeRaw(w.take()!);
  }

  /** Sends bytes as they are. */
  writeRaw(bytes: Uint8Array): void {
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.write(bytes);
  }

  /**
   * Plays a normal broker handshake up to `until` (see {@link HandshakeStep}), with the given tune values.
   * Resolves with what the client answered.
   */
  async handshake(
    until: HandshakeStep = 'open-ok',
    tune: TuneValues = {},
  ): Promise<{ startOk: Received<'connection.start-ok'>; tuneOk?: Received<'connection.tune-ok'> }> {
    await this.waitForProtocolHeader();
    this.send(0, 'connection.start', {
      versionMajor: 0,
      versionMinor: 9,
      serverProperties: { product: 'fake-broker', capabilities: { publisher_confirms: true } },
      mechanisms: 'PLAIN AMQPLAIN',
      locales: 'en_US',
    });
    const startOk = await this.expectMethod('connection.start-ok', { channel: 0 });
    if (until === 'start') return { startOk };
    this.send(0, 'connection.tune', { ...DEFAULT_TUNE, ...tune });
    const tuneOk = await this.expectMethod('connection.tune-ok', { channel: 0 });
    await this.expectMethod('connection.open', { channel: 0 });
    if (until === 'tune') return { startOk, tuneOk };
    this.send(0, 'connection.open-ok', {});
    return { startOk, tuneOk };
  }

  /** Answers the next channel.open (on any channel) with channel.open-ok; resolves with the channel id. */
  async acceptChannel(timeoutMs = DEFAULT_WAIT_MS): Promise<number> {
    const open = await this.expectMethod('channel.open', { timeoutMs });
    this.send(open.channel, 'channel.open-ok', {});
    return open.channel;
  }

  /**
   * Sends a heartbeat frame every `intervalMs` until the socket closes (a broker that is alive but answers
   * nothing else).
   */
  startHeartbeats(intervalMs: number): void {
    const timer = setInterval(() => this.writeRaw(rawFrame(FRAME_HEARTBEAT, 0, Buffer.alloc(0))), intervalMs);
    this.socket.once('close', () => clearInterval(timer));
  }

  /**
   * Stops reading from the socket (a broker under a memory alarm): the client's writes pile up in the
   * kernel buffers and then in its own. {@link resumeReading} undoes it.
   */
  stopReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  /** Destroys the socket. */
  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.protocolHeader === undefined) {
      this.headerBytes = Buffer.concat([this.headerBytes, chunk]);
      if (this.headerBytes.length < 8) return;
      this.protocolHeader = this.headerBytes.subarray(0, 8);
      chunk = this.headerBytes.subarray(8);
      this.notify();
      if (chunk.length === 0) return;
    }
    this.decoder.push(chunk);
  }

  private onFrame(frame: Frame): void {
    this.frames.push(frame);
    if (frame.type === FRAME_METHOD && frame.channel === 0 && frame.method.name === 'connection.close') {
      this.answerClose();
    }
    this.notify();
  }

  private answerClose(): void {
    switch (this.onClientClose) {
      case 'close-ok':
        this.send(0, 'connection.close-ok', {});
        break;
      case 'close-ok-then-end':
        this.send(0, 'connection.close-ok', {});
        this.socket.end();
        break;
      case 'drop':
        this.socket.destroy();
        break;
      case 'ignore':
        break;
    }
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  private waitFor<T>(find: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      const fail = (why: string) => {
        done();
        reject(new Error(`fake broker: ${why} waiting for ${what}; received ${this.describe()}`));
      };
      const check = () => {
        const value = find();
        if (value !== undefined) {
          done();
          resolve(value);
        } else if (this.closed) {
          fail('the socket closed');
        } else if (this.decodeError) {
          fail(`the client sent a malformed frame (${this.decodeError.message})`);
        }
      };
      const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);
      this.waiters.add(check);
      check();
    });
  }
}

/** The fake server: accepts connections and hands each to the test as a {@link FakePeer}. */
export class FakeBroker {
  readonly peers: FakePeer[] = [];
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly acceptWaiters = new Set<() => void>();
  private taken = 0;
  private closing: Promise<void> | undefined;

  private constructor(private readonly onClientClose: ClientCloseReply) {
    this.server = createServer((socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      this.peers.push(new FakePeer(socket, this.onClientClose));
      for (const w of [...this.acceptWaiters]) w();
    });
  }

  /** Starts listening on 127.0.0.1, on an ephemeral port. */
  static async start(options: { onClientClose?: ClientCloseReply } = {}): Promise<FakeBroker> {
    const broker = new FakeBroker(options.onClientClose ?? 'close-ok');
    await new Promise<void>((resolve, reject) => {
      broker.server.once('error', reject);
      broker.server.listen(0, '127.0.0.1', () => {
        broker.server.off('error', reject);
        resolve();
      });
    });
    return broker;
  }

  get port(): number {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('fake broker is not listening');
    return address.port;
  }

  /** Options that point `connect()` at this server (no heartbeats unless asked for). */
  options(extra: ConnectOptions = {}): ConnectOptions {
    return { hostname: '127.0.0.1', port: this.port, heartbeat: 0, connectionTimeout: 5000, ...extra };
  }

  /** The next connection not yet handed out by an earlier call. */
  accept(timeoutMs = DEFAULT_WAIT_MS): Promise<FakePeer> {
    return new Promise<FakePeer>((resolve, reject) => {
      const check = () => {
        const peer = this.peers[this.taken];
        if (peer === undefined) return;
        this.taken++;
        clearTimeout(timer);
        this.acceptWaiters.delete(check);
        resolve(peer);
      };
      const timer = setTimeout(() => {
        this.acceptWaiters.delete(check);
        reject(new Error(`fake broker: no connection within ${timeoutMs} ms`));
      }, timeoutMs);
      this.acceptWaiters.add(check);
      check();
    });
  }

  /** Destroys every socket and closes the server; resolves once all are gone. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const gone = this.peers.map((p) => p.whenClosed);
      for (const s of this.sockets) s.destroy();
      await new Promise<void>((resolve) => this.server.close(() => resolve()));
      await Promise.all(gone);
    })();
    return this.closing;
  }
}

/** Bytes of one frame with the given type, channel and payload, and a chosen frame-end octet. */
export function rawFrame(type: number, channel: number, payload: Uint8Array, frameEnd = FRAME_END): Buffer {
  const b = Buffer.alloc(7 + payload.length + 1);
  b[0] = type;
  b.writeUInt16BE(channel, 1);
  b.writeUInt32BE(payload.length, 3);
  b.set(payload, 7);
  b[7 + payload.length] = frameEnd;
  return b;
}

/** Bytes of one method frame, encoded by the codec. */
export function methodFrame<N extends MethodName>(channel: number, name: N, args: MethodInputs[N]): Buffer {
  const w = new BufferWriter(1024);
  writeMethodFrame(w, channel, name, args);
  return Buffer.from(w.take()!);
}

/** A content header frame (no properties) for `classId` declaring `bodySize` bytes. */
export function headerFrame(channel: number, bodySize: number, classId = 60): Buffer {
  const p = Buffer.alloc(14);
  p.writeUInt16BE(classId, 0);
  p.writeUInt16BE(0, 2); // weight
  p.writeUInt32BE(Math.floor(bodySize / 2 ** 32), 4);
  p.writeUInt32BE(bodySize >>> 0, 8);
  p.writeUInt16BE(0, 12); // property flags: none
  return rawFrame(FRAME_HEADER, channel, p);
}

/** A content body frame. */
export function bodyFrame(channel: number, body: Uint8Array): Buffer {
  return rawFrame(FRAME_BODY, channel, body);
}
