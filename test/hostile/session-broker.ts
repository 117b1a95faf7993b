/**
 * A small fake broker that answers like a RabbitMQ node, for the client's session tests: it plays the
 * handshake, opens channels, answers qos / confirm / declares / binds / consume / cancel, acks confirmed
 * publishes, and lets a test inject a fault at one method (close the connection with a reply code, or
 * never answer). Unlike `fake-broker.ts` (one scripted step at a time) it serves any number of
 * connections on its own, which is what a reconnect loop needs.
 *
 * It exists because a real broker cannot be made to fail at one exact point of a client's session setup.
 */
import { createServer, type Server, type Socket } from 'node:net';
import {
  BufferWriter,
  FRAME_BODY,
  FRAME_HEADER,
  FRAME_METHOD,
  type Frame,
  FrameDecoder,
  frameObjects,
  type Method,
  type MethodInputs,
  type MethodName,
  writeMethodFrame,
} from '../../src/protocol/index.js';

/** What the broker does with one method of a client. */
export type Fault =
  /** Closes the connection with connection.close (the reply code given) and drops the socket soon after. */
  | { kind: 'close-connection'; replyCode: number; replyText?: string }
  /** Closes the channel with channel.close (reply code given). */
  | { kind: 'close-channel'; replyCode: number; replyText?: string }
  /** Never answers. */
  | { kind: 'hang' }
  /** Answers after `ms`. */
  | { kind: 'delay'; ms: number }
  /** Answers normally, then closes the connection (320) after `ms`. */
  | { kind: 'answer-then-close'; ms: number };

/** Decides, per method received, whether to inject a fault (undefined: answer normally). */
export type FaultPlan = (method: Method, conn: SessionPeer) => Fault | undefined;

/** One client connection at the fake broker. */
export class SessionPeer {
  readonly id: number;
  /** Consumer tags active on this connection (consume-ok sent, not cancelled). */
  readonly consumers = new Map<string, { channel: number; queue: string }>();
  /** Method names received, as `channel:name`. */
  readonly received: string[] = [];
  closed = false;
  private readonly confirming = new Set<number>();
  private readonly publishSeq = new Map<number, number>();
  private readonly content = new Map<number, { left: number }>();
  private readonly decoder: FrameDecoder;
  private header = Buffer.alloc(0);
  private nextTag = 1;
  private nextQueue = 1;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    readonly socket: Socket,
    id: number,
    private readonly broker: SessionBroker,
  ) {
    this.id = id;
    this.decoder = new FrameDecoder(
      frameObjects(
        (f) => this.onFrame(f),
        () => socket.destroy(),
      ),
    );
    this.decoder.maxFrameSize = 0;
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.once('close', () => {
      this.closed = true;
      for (const t of this.timers) clearTimeout(t);
      this.timers.clear();
    });
  }

  /** Sends one method frame (nothing once the socket is gone). */
  send<N extends MethodName>(channel: number, name: N, args: MethodInputs[N]): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    const w = new BufferWriter(256);
    writeMethodFrame(w, channel, name, args);
    this.socket.write(w.take()!);
  }

  /** Sends raw bytes. */
  writeRaw(bytes: Uint8Array): void {
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.write(bytes);
  }

  /** Closes the connection from the broker side with `replyCode`, then drops the socket. */
  closeConnection(replyCode: number, replyText = 'fake broker: forced close'): void {
    this.send(0, 'connection.close', { replyCode, replyText, classId: 0, methodId: 0 });
    this.later(50, () => this.socket.destroy());
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private onData(chunk: Buffer): void {
    if (this.header.length < 8) {
      const all = Buffer.concat([this.header, chunk]);
      this.header = all.subarray(0, Math.min(8, all.length));
      if (this.header.length < 8) return;
      this.send(0, 'connection.start', {
        versionMajor: 0,
        versionMinor: 9,
        serverProperties: { product: 'session-broker', capabilities: { publisher_confirms: true } },
        mechanisms: 'PLAIN',
        locales: 'en_US',
      });
      chunk = all.subarray(8);
      if (chunk.length === 0) return;
    }
    this.decoder.push(chunk);
  }

  private onFrame(f: Frame): void {
    if (f.type === FRAME_HEADER) {
      if (f.bodySize === 0) this.published(f.channel);
      else this.content.set(f.channel, { left: f.bodySize });
      return;
    }
    if (f.type === FRAME_BODY) {
      const c = this.content.get(f.channel);
      if (c === undefined) return;
      c.left -= f.payload.length;
      if (c.left <= 0) {
        this.content.delete(f.channel);
        this.published(f.channel);
      }
      return;
    }
    if (f.type !== FRAME_METHOD) return;
    this.received.push(`${f.channel}:${f.method.name}`);
    const fault = this.broker.plan(f.method, this);
    if (fault === undefined) this.answer(f.channel, f.method);
    else this.inject(f.channel, f.method, fault);
  }

  private inject(channel: number, m: Method, fault: Fault): void {
    switch (fault.kind) {
      case 'close-connection':
        this.closeConnection(fault.replyCode, fault.replyText);
        return;
      case 'close-channel':
        this.send(channel, 'channel.close', {
          replyCode: fault.replyCode,
          replyText: fault.replyText ?? 'fake broker: forced channel close',
          classId: 0,
          methodId: 0,
        });
        return;
      case 'hang':
        return;
      case 'delay':
        this.later(fault.ms, () => this.answer(channel, m));
        return;
      case 'answer-then-close':
        this.answer(channel, m);
        this.later(fault.ms, () => this.closeConnection(320));
        return;
    }
  }

  private published(channel: number): void {
    if (!this.confirming.has(channel)) return;
    const seq = (this.publishSeq.get(channel) ?? 0) + 1;
    this.publishSeq.set(channel, seq);
    this.send(channel, 'basic.ack', { deliveryTag: seq, multiple: false });
  }

  private answer(ch: number, m: Method): void {
    switch (m.name) {
      case 'connection.start-ok':
        this.send(0, 'connection.tune', { channelMax: 2047, frameMax: 131072, heartbeat: 0 });
        return;
      case 'connection.open':
        this.send(0, 'connection.open-ok', {});
        return;
      case 'connection.close':
        this.send(0, 'connection.close-ok', {});
        return;
      case 'connection.close-ok':
        this.socket.destroy();
        return;
      case 'channel.open':
        this.send(ch, 'channel.open-ok', {});
        return;
      case 'channel.close':
        this.dropChannel(ch);
        this.send(ch, 'channel.close-ok', {});
        return;
      case 'channel.close-ok':
        this.dropChannel(ch);
        return;
      case 'confirm.select':
        this.confirming.add(ch);
        this.send(ch, 'confirm.select-ok', {});
        return;
      case 'basic.qos':
        this.send(ch, 'basic.qos-ok', {});
        return;
      case 'exchange.declare':
        this.send(ch, 'exchange.declare-ok', {});
        return;
      case 'queue.declare': {
        const queue = m.queue === '' ? `amq.gen-fake-${this.id}-${this.nextQueue++}` : m.queue;
        this.send(ch, 'queue.declare-ok', { queue, messageCount: 0, consumerCount: 0 });
        return;
      }
      case 'queue.bind':
        this.send(ch, 'queue.bind-ok', {});
        return;
      case 'basic.consume': {
        const tag = m.consumerTag || `fake-ctag-${this.id}-${this.nextTag++}`;
        this.consumers.set(tag, { channel: ch, queue: m.queue });
        this.send(ch, 'basic.consume-ok', { consumerTag: tag });
        return;
      }
      case 'basic.cancel':
        this.consumers.delete(m.consumerTag);
        this.send(ch, 'basic.cancel-ok', { consumerTag: m.consumerTag });
        return;
      default:
        return;
    }
  }

  private dropChannel(ch: number): void {
    this.confirming.delete(ch);
    this.publishSeq.delete(ch);
    for (const [tag, c] of this.consumers) if (c.channel === ch) this.consumers.delete(tag);
  }
}

/** The fake server. `plan` is consulted for every method received; change it at any time. */
export class SessionBroker {
  readonly peers: SessionPeer[] = [];
  plan: FaultPlan = () => undefined;
  private readonly server: Server;
  private closing: Promise<void> | undefined;

  private constructor() {
    this.server = createServer((socket) => {
      this.peers.push(new SessionPeer(socket, this.peers.length + 1, this));
    });
  }

  static async start(): Promise<SessionBroker> {
    const broker = new SessionBroker();
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
    if (address === null || typeof address === 'string') throw new Error('session broker is not listening');
    return address.port;
  }

  /** An AMQP URL for this server, with the given password. */
  url(password = 'guest'): string {
    return `amqp://guest:${encodeURIComponent(password)}@127.0.0.1:${this.port}/`;
  }

  /** Connections accepted so far. */
  get attempts(): number {
    return this.peers.length;
  }

  /** Connections whose socket is still open. */
  get open(): SessionPeer[] {
    return this.peers.filter((p) => !p.closed);
  }

  /** Consumers alive on open connections. */
  get liveConsumers(): number {
    return this.open.reduce((n, p) => n + p.consumers.size, 0);
  }

  /** Destroys every socket and stops listening. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const p of this.peers) p.socket.destroy();
      await new Promise<void>((resolve) => this.server.close(() => resolve()));
    })();
    return this.closing;
  }
}
