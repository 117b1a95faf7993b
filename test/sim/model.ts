/**
 * The broker model: a small in-process AMQP 0-9-1 server on 127.0.0.1 (ephemeral port) with RabbitMQ's
 * semantics for what warren uses, and the fault injector wired into its frame loop. A channel error closes
 * the channel and requeues what was unacked on it; a lost connection requeues everything it had unacked;
 * acking an unknown tag is a 406 channel error. Live checks of the client's acks run as they arrive.
 */
import { createServer, type Server, type Socket } from 'node:net';
import {
  type BasicProperties,
  ContentAssembler,
  FRAME_BODY,
  FRAME_HEADER,
  FRAME_METHOD,
  type Frame,
  type Method,
  type MethodInputs,
  type MethodName,
  type MethodOf,
} from '../../src/protocol/index.js';
import { type AfterFrame, FaultInjector, type FaultRates } from './faults.js';
import { type Binding, type ExchangeType, route } from './routing.js';
import type { ClientView, Clock, ExchangeState, Ledger, QueueState, StoredMessage } from './state.js';
import type { Trace } from './trace.js';
import { AMQP_HEADER, Wire } from './wire.js';

const REPLY_TO = 'amq.rabbitmq.reply-to';
const FRAME_MAX = 131072;

export interface ModelOptions {
  seed: number;
  rates: FaultRates;
  trace: Trace;
  clock: Clock;
  ledger: Ledger;
  client: ClientView;
  /** Forget each delivery once settled (long memory runs keep only what is live). */
  prune?: boolean;
  /** Longest a queue gets; older messages are dropped (x-max-length, overflow drop-head). Default: no limit. */
  maxQueueLength?: number;
  /** Bodies larger than this are refused with 406 (RabbitMQ's max_message_size). */
  maxMessageSize?: number;
  /** Exchanges the user may not publish to (403). */
  forbidden?: readonly string[];
}

interface Unacked {
  tag: number;
  msg: StoredMessage;
  queue: string;
  consumer: ModelConsumer | undefined;
  deliveryId: string;
}

interface ModelConsumer {
  tag: string;
  queue: string;
  noAck: boolean;
  prefetch: number;
  unacked: number;
  channel: ModelChannel;
}

interface PendingConfirm {
  seq: number;
  kind: 'ack' | 'nack';
  messageId: string | undefined;
  accepted: boolean;
}

class ModelChannel {
  state: 'open' | 'closing' = 'open';
  confirm = false;
  publishSeq = 0;
  pending: PendingConfirm[] = [];
  holdFrames = 0;
  holdTimer: NodeJS.Timeout | undefined;
  prefetch = 0;
  nextTag = 0;
  readonly unacked = new Map<number, Unacked>();
  readonly consumers = new Map<string, ModelConsumer>();
  replyToken: string | undefined;
  replyTag: string | undefined;
  readonly content = new ContentAssembler();
  publishArgs: MethodOf<'basic.publish'> | undefined;
  stalled = false;
  stallTimer: NodeJS.Timeout | undefined;
  backlog: Frame[] = [];
  constructor(
    readonly id: number,
    readonly key: string,
    readonly conn: ModelConnection,
  ) {}
}

class ModelConnection {
  state: 'start' | 'tune' | 'open-wait' | 'open' | 'closing' | 'closed' = 'start';
  readonly channels = new Map<number, ModelChannel>();
  frameMax = FRAME_MAX;
  stopped = false;
  blockTimer: NodeJS.Timeout | undefined;
  closeTimer: NodeJS.Timeout | undefined;
  channelSeq = 0;
  constructor(
    readonly id: number,
    readonly wire: Wire,
  ) {}
  get label(): string {
    return `c${this.id}`;
  }
}

class ChannelFailure extends Error {
  constructor(
    readonly replyCode: number,
    readonly replyText: string,
    readonly classId: number,
    readonly methodId: number,
    readonly connectionLevel = false,
  ) {
    super(replyText);
  }
}

export class BrokerModel {
  readonly faults: FaultInjector;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  readonly connections = new Set<ModelConnection>();
  private readonly exchanges = new Map<string, ExchangeState>();
  private readonly queues = new Map<string, QueueState>();
  private bindings: Binding[] = [];
  private readonly consumersByQueue = new Map<string, ModelConsumer[]>();
  private readonly replyChannels = new Map<string, ModelChannel>();
  private connSeq = 0;
  private deliverySeq = 0;
  private queueSeq = 0;
  private tagSeq = 0;
  private readonly maxMessageSize: number;
  private readonly forbidden: Set<string>;
  private closed = false;
  /** Frames received plus writes made: the run loop waits until this stops moving. */
  activity = 0;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly o: ModelOptions) {
    this.faults = new FaultInjector(o.seed, o.rates);
    this.maxMessageSize = o.maxMessageSize ?? 512 * 1024;
    this.forbidden = new Set(o.forbidden ?? []);
    for (const [name, type] of [
      ['amq.direct', 'direct'],
      ['amq.fanout', 'fanout'],
      ['amq.topic', 'topic'],
    ] as const) {
      this.exchanges.set(name, { name, type, durable: true, autoDelete: false, internal: false });
    }
    this.server = createServer((socket) => this.accept(socket));
  }

  /** Starts listening on 127.0.0.1, ephemeral port. */
  async start(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    const a = this.server.address();
    if (a === null || typeof a === 'string') throw new Error('model: not listening');
    return a.port;
  }

  /** A timer of the model's own (delayed replies, confirms, unblock), counted so the run loop can wait for them. */
  private later(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.activity++;
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  private cancel(t: NodeJS.Timeout | undefined): void {
    if (t === undefined) return;
    clearTimeout(t);
    this.timers.delete(t);
  }

  /** Timers of the model still to fire. */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Connections open at the AMQP level (handshake begun, not closed). */
  get openConnections(): number {
    let n = 0;
    for (const c of this.connections) if (c.state !== 'closed') n++;
    return n;
  }

  /** Closes every socket and the server, clears every timer. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.connections) this.forget(c);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private log(what: string): void {
    this.o.trace.add('broker', what);
  }

  // ---------------------------------------------------------------------------------------------------
  // Connections.

  private accept(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    const conn: ModelConnection = new ModelConnection(
      ++this.connSeq,
      new Wire(socket, {
        header: (ok) => this.onHeader(conn, ok),
        frame: (f) => this.onFrame(conn, f),
        malformed: (msg) => {
          this.o.ledger.violate('protocol-violation', `${conn.label}: malformed frame from the client: ${msg}`);
          this.connectionError(conn, 501, `FRAME_ERROR - ${msg}`, 0, 0);
        },
        closed: () => {
          this.sockets.delete(socket);
          if (conn.state !== 'closed') {
            this.log(`${conn.label} socket closed by the client`);
            this.forget(conn);
          }
        },
      }),
    );
    this.connections.add(conn);
    this.log(`${conn.label} accepted`);
  }

  private onHeader(conn: ModelConnection, ok: boolean): void {
    if (!ok) {
      conn.wire.sendRaw(AMQP_HEADER);
      conn.wire.end();
      return;
    }
    conn.wire.sendMethod(0, 'connection.start', {
      versionMajor: 0,
      versionMinor: 9,
      serverProperties: {
        product: 'warren-sim-broker',
        version: '4.3.0',
        capabilities: {
          publisher_confirms: true,
          exchange_exchange_bindings: true,
          'basic.nack': true,
          consumer_cancel_notify: true,
          'connection.blocked': true,
          authentication_failure_close: true,
          per_consumer_qos: true,
          direct_reply_to: true,
        },
      },
      mechanisms: 'PLAIN AMQPLAIN',
      locales: 'en_US',
    });
  }

  /** Requeues what the connection had, forgets its channels and consumers; the socket is ended. */
  private forget(conn: ModelConnection): void {
    if (conn.state === 'closed') return;
    conn.state = 'closed';
    this.cancel(conn.blockTimer);
    this.cancel(conn.closeTimer);
    for (const ch of conn.channels.values()) this.cleanupChannel(ch);
    conn.channels.clear();
    for (const q of [...this.queues.values()]) if (q.exclusiveOwner === conn.id) this.deleteQueue(q.name);
    conn.wire.end();
    this.dispatch();
  }

  private drop(conn: ModelConnection, why: string): void {
    this.log(`${conn.label} FAULT drop (${why})`);
    this.o.ledger.disrupted();
    this.forget(conn);
  }

  private connectionError(conn: ModelConnection, code: number, text: string, classId: number, methodId: number): void {
    if (conn.state === 'closed' || conn.state === 'closing') return;
    this.log(`${conn.label} -> connection.close ${code} ${text}`);
    conn.wire.sendMethod(0, 'connection.close', { replyCode: code, replyText: text, classId, methodId });
    for (const ch of conn.channels.values()) this.cleanupChannel(ch);
    conn.channels.clear();
    conn.state = 'closing';
    this.o.ledger.disrupted();
    conn.closeTimer = this.later(1000, () => this.forget(conn));
    this.dispatch();
  }

  private onFrame(conn: ModelConnection, f: Frame): void {
    this.activity++;
    if (conn.state === 'closed' || conn.stopped || this.closed) return;
    if (conn.state === 'closing') {
      if (f.type === FRAME_METHOD && f.channel === 0) {
        if (f.method.name === 'connection.close-ok') this.forget(conn);
        else if (f.method.name === 'connection.close') conn.wire.sendMethod(0, 'connection.close-ok', {});
      }
      return;
    }
    const handshake = conn.state !== 'open';
    const before = this.faults.before(handshake);
    const desc = describe(f);
    if (before === 'drop') {
      this.drop(conn, `before ${desc}`);
      return;
    }
    if (before === 'stop-reading') {
      this.log(`${conn.label} FAULT stops reading (at ${desc})`);
      this.o.ledger.disrupted();
      // Frames are read and dropped rather than left unread: the client's own hang-up must still be seen.
      conn.stopped = true;
      return;
    }
    if (f.type === FRAME_METHOD) this.log(`${conn.label} <- ${desc}`);
    try {
      this.process(conn, f);
    } catch (err) {
      if (!(err instanceof ChannelFailure)) throw err;
      this.connectionError(conn, err.replyCode, err.replyText, err.classId, err.methodId);
    }
    if (conn.state !== 'open') return;
    this.tickHolds(conn);
    this.applyAfter(conn, this.faults.after(handshake), desc);
  }

  private applyAfter(conn: ModelConnection, a: AfterFrame, desc: string): void {
    switch (a.kind) {
      case 'none':
        return;
      case 'drop':
        this.drop(conn, `after ${desc}`);
        return;
      case 'connection-forced':
        this.log(`${conn.label} FAULT connection.close 320`);
        this.connectionError(
          conn,
          320,
          "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'",
          0,
          0,
        );
        return;
      case 'channel-close': {
        const open = [...conn.channels.values()].filter((c) => c.state === 'open' && !c.stalled);
        if (open.length === 0) return;
        const ch = open[this.faults.int(0, open.length - 1)]!;
        const text =
          a.replyCode === 404
            ? "NOT_FOUND - no queue 'sim.gone' in vhost '/'"
            : a.replyCode === 406
              ? 'PRECONDITION_FAILED - fault injected by the simulation'
              : a.replyCode === 403
                ? "ACCESS_REFUSED - access to queue 'sim.gone' in vhost '/' refused for user 'guest'"
                : 'INTERNAL_ERROR - fault injected by the simulation';
        this.log(`${conn.label} FAULT channel.close ${a.replyCode} on ${ch.key}`);
        this.o.ledger.disrupted();
        if (ch.confirm) this.o.ledger.confirmChannelCloses.push(this.o.clock.tick());
        this.channelError(ch, new ChannelFailure(a.replyCode, text, 0, 0));
        return;
      }
      case 'blocked': {
        if (conn.blockTimer !== undefined) return;
        this.log(`${conn.label} FAULT connection.blocked for ${a.forMs} ms`);
        conn.wire.sendMethod(0, 'connection.blocked', { reason: 'low on memory' });
        conn.wire.pauseReading();
        conn.blockTimer = this.later(a.forMs, () => {
          conn.blockTimer = undefined;
          if (conn.state !== 'open') return;
          this.log(`${conn.label} -> connection.unblocked`);
          conn.wire.sendMethod(0, 'connection.unblocked', {});
          // A connection that stopped reading meanwhile still reads (and drops) frames, so that the client's
          // own hang-up is seen: left paused, the model would never see it close.
          conn.wire.resumeReading();
        });
        return;
      }
      case 'cancel': {
        const consumers: ModelConsumer[] = [];
        for (const ch of conn.channels.values())
          if (ch.state === 'open' && !ch.stalled) for (const c of ch.consumers.values()) consumers.push(c);
        if (consumers.length === 0) return;
        const c = consumers[this.faults.int(0, consumers.length - 1)]!;
        this.log(`${conn.label} FAULT basic.cancel ${c.tag} (queue ${c.queue}) on ${c.channel.key}`);
        this.removeConsumer(c);
        c.channel.conn.wire.sendMethod(c.channel.id, 'basic.cancel', { consumerTag: c.tag, nowait: true });
        return;
      }
    }
  }

  private process(conn: ModelConnection, f: Frame): void {
    if (f.type !== FRAME_METHOD && f.type !== FRAME_HEADER && f.type !== FRAME_BODY) return; // heartbeat
    if (f.channel === 0) {
      if (f.type !== FRAME_METHOD) throw new ChannelFailure(505, 'UNEXPECTED_FRAME - content on channel 0', 0, 0);
      this.connectionMethod(conn, f.method);
      return;
    }
    if (conn.state !== 'open') throw new ChannelFailure(504, 'CHANNEL_ERROR - connection not open', 0, 0);
    const ch = conn.channels.get(f.channel);
    if (ch === undefined) {
      if (f.type === FRAME_METHOD && f.method.name === 'channel.open') {
        const opened = new ModelChannel(f.channel, `${conn.label}.ch${f.channel}#${++conn.channelSeq}`, conn);
        conn.channels.set(f.channel, opened);
        this.reply(opened, 'channel.open-ok', { channelId: '' });
        return;
      }
      throw new ChannelFailure(504, `CHANNEL_ERROR - expected 'channel.open' on channel ${f.channel}`, 0, 0);
    }
    if (ch.stalled) {
      ch.backlog.push(f);
      return;
    }
    this.channelFrame(ch, f);
  }

  private channelFrame(ch: ModelChannel, f: Frame): void {
    if (ch.state === 'closing') {
      if (f.type === FRAME_METHOD && f.method.name === 'channel.close-ok') {
        ch.conn.channels.delete(ch.id);
      } else if (f.type === FRAME_METHOD && f.method.name === 'channel.close') {
        ch.conn.wire.sendMethod(ch.id, 'channel.close-ok', {});
      }
      return;
    }
    try {
      if (f.type === FRAME_METHOD) this.channelMethod(ch, f.method);
      else if (f.type === FRAME_HEADER) this.contentDone(ch, ch.content.header(f.bodySize, f.properties));
      else if (f.type === FRAME_BODY) this.contentDone(ch, ch.content.body(f.payload));
    } catch (err) {
      if (err instanceof ChannelFailure && !err.connectionLevel) {
        this.channelError(ch, err);
        return;
      }
      if (err instanceof ChannelFailure) throw err;
      const e = err as { replyCode?: number; message: string };
      throw new ChannelFailure(e.replyCode ?? 505, `UNEXPECTED_FRAME - ${e.message}`, 0, 0, true);
    }
  }

  private connectionMethod(conn: ModelConnection, m: Method): void {
    switch (m.name) {
      case 'connection.start-ok': {
        if (conn.state !== 'start') break;
        const ok = m.mechanism === 'PLAIN' && m.response === '\u0000guest\u0000guest';
        if (!ok) {
          this.connectionError(
            conn,
            403,
            'ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN',
            10,
            11,
          );
          return;
        }
        conn.state = 'tune';
        conn.wire.sendMethod(0, 'connection.tune', { channelMax: 2047, frameMax: FRAME_MAX, heartbeat: 0 });
        return;
      }
      case 'connection.tune-ok':
        if (conn.state !== 'tune') break;
        conn.frameMax = m.frameMax === 0 ? FRAME_MAX : Math.min(m.frameMax, FRAME_MAX);
        conn.wire.maxFrameSize = conn.frameMax;
        conn.state = 'open-wait';
        return;
      case 'connection.open':
        if (conn.state !== 'open-wait') break;
        if (m.virtualHost !== '/') {
          this.connectionError(conn, 530, `NOT_ALLOWED - vhost ${m.virtualHost} not found`, 10, 40);
          return;
        }
        conn.state = 'open';
        conn.wire.sendMethod(0, 'connection.open-ok', { knownHosts: '' });
        this.log(`${conn.label} open`);
        return;
      case 'connection.close': {
        const plan = this.faults.reply();
        for (const ch of conn.channels.values()) this.cleanupChannel(ch);
        conn.channels.clear();
        if (plan.kind === 'never') {
          this.log(`${conn.label} FAULT never answers connection.close`);
          conn.state = 'closing';
          conn.stopped = true;
          this.dispatch();
          return;
        }
        conn.wire.sendMethod(0, 'connection.close-ok', {});
        this.forget(conn);
        return;
      }
      case 'connection.update-secret':
        conn.wire.sendMethod(0, 'connection.update-secret-ok', {});
        return;
      default:
        break;
    }
    throw new ChannelFailure(503, `COMMAND_INVALID - unexpected ${m.name} on channel 0 (state ${conn.state})`, 0, 0);
  }

  // ---------------------------------------------------------------------------------------------------
  // Channels.

  /** Answers a synchronous method, now, late (the channel stalls meanwhile) or never, as the injector says. */
  private reply<N extends MethodName>(ch: ModelChannel, name: N, args: MethodInputs[N]): void {
    const plan = this.faults.reply();
    if (plan.kind === 'now') {
      ch.conn.wire.sendMethod(ch.id, name, args);
      return;
    }
    ch.stalled = true;
    if (plan.kind === 'never') {
      this.log(`${ch.conn.label} FAULT never answers ${name} on ${ch.key}`);
      return;
    }
    this.log(`${ch.conn.label} FAULT answers ${name} on ${ch.key} after ${plan.delayMs} ms`);
    ch.stallTimer = this.later(plan.delayMs, () => {
      ch.stallTimer = undefined;
      if (ch.conn.state !== 'open' || ch.conn.channels.get(ch.id) !== ch) return;
      ch.conn.wire.sendMethod(ch.id, name, args);
      ch.stalled = false;
      const backlog = ch.backlog;
      ch.backlog = [];
      for (let i = 0; i < backlog.length; i++) {
        if (ch.stalled) {
          ch.backlog.push(...backlog.slice(i));
          break;
        }
        try {
          this.channelFrame(ch, backlog[i]!);
        } catch (err) {
          if (!(err instanceof ChannelFailure)) throw err;
          this.connectionError(ch.conn, err.replyCode, err.replyText, err.classId, err.methodId);
          return;
        }
      }
      this.dispatch();
    });
  }

  private channelError(ch: ModelChannel, err: ChannelFailure): void {
    if (ch.state !== 'open') return;
    this.log(`${ch.conn.label} -> channel.close ${err.replyCode} on ${ch.key}: ${err.replyText}`);
    this.cleanupChannel(ch);
    ch.state = 'closing';
    ch.conn.wire.sendMethod(ch.id, 'channel.close', {
      replyCode: err.replyCode,
      replyText: err.replyText,
      classId: err.classId,
      methodId: err.methodId,
    });
    this.dispatch();
  }

  /** A channel goes away: unacked deliveries back to their queues (in order), consumers and confirms gone. */
  private cleanupChannel(ch: ModelChannel): void {
    this.cancel(ch.holdTimer);
    this.cancel(ch.stallTimer);
    ch.holdTimer = undefined;
    ch.stallTimer = undefined;
    ch.stalled = false;
    ch.backlog = [];
    ch.pending = [];
    ch.content.reset();
    for (const c of [...ch.consumers.values()]) this.removeConsumer(c);
    if (ch.replyToken !== undefined) this.replyChannels.delete(ch.replyToken);
    ch.replyToken = undefined;
    const byQueue = new Map<string, StoredMessage[]>();
    for (const u of ch.unacked.values()) {
      const list = byQueue.get(u.queue) ?? [];
      list.push({ ...u.msg, redelivered: true });
      byQueue.set(u.queue, list);
      const rec = this.o.ledger.deliveries.get(u.deliveryId);
      if (rec) rec.settled = 'requeued (channel gone)';
      if (this.o.prune) {
        this.o.ledger.deliveries.delete(u.deliveryId);
        this.o.client.forget?.(u.deliveryId);
      }
    }
    ch.unacked.clear();
    for (const [name, list] of byQueue) this.queues.get(name)?.ready.unshift(...list);
  }

  private channelMethod(ch: ModelChannel, m: Method): void {
    const conn = ch.conn;
    if (ch.content.busy && m.name !== 'basic.publish') {
      throw new ChannelFailure(505, `UNEXPECTED_FRAME - ${m.name} while content was incomplete`, 0, 0, true);
    }
    switch (m.name) {
      case 'channel.open':
        throw new ChannelFailure(504, `CHANNEL_ERROR - channel ${ch.id} is already open`, 20, 10, true);
      case 'channel.close': {
        this.cleanupChannel(ch);
        ch.state = 'closing';
        const plan = this.faults.reply();
        if (plan.kind === 'never') {
          this.log(`${conn.label} FAULT never answers channel.close on ${ch.key}`);
          return;
        }
        conn.wire.sendMethod(ch.id, 'channel.close-ok', {});
        conn.channels.delete(ch.id);
        this.dispatch();
        return;
      }
      case 'channel.close-ok':
        return;
      case 'channel.flow':
        conn.wire.sendMethod(ch.id, 'channel.flow-ok', { active: m.active });
        return;
      case 'exchange.declare':
        this.exchangeDeclare(ch, m);
        return;
      case 'exchange.delete':
        this.exchanges.delete(m.exchange);
        this.bindings = this.bindings.filter((b) => b.exchange !== m.exchange);
        if (!m.nowait) this.reply(ch, 'exchange.delete-ok', {});
        return;
      case 'exchange.bind':
      case 'exchange.unbind':
        if (!m.nowait) this.reply(ch, m.name === 'exchange.bind' ? 'exchange.bind-ok' : 'exchange.unbind-ok', {});
        return;
      case 'queue.declare':
        this.queueDeclare(ch, m);
        return;
      case 'queue.bind': {
        if (!this.queues.has(m.queue))
          throw new ChannelFailure(404, `NOT_FOUND - no queue '${m.queue}' in vhost '/'`, 50, 20);
        if (m.exchange !== '' && !this.exchanges.has(m.exchange))
          throw new ChannelFailure(404, `NOT_FOUND - no exchange '${m.exchange}' in vhost '/'`, 50, 20);
        if (m.exchange === '')
          throw new ChannelFailure(403, 'ACCESS_REFUSED - operation not permitted on the default exchange', 50, 20);
        const b = { exchange: m.exchange, queue: m.queue, routingKey: m.routingKey };
        if (
          !this.bindings.some((x) => x.exchange === b.exchange && x.queue === b.queue && x.routingKey === b.routingKey)
        )
          this.bindings.push(b);
        if (!m.nowait) this.reply(ch, 'queue.bind-ok', {});
        return;
      }
      case 'queue.unbind':
        this.bindings = this.bindings.filter(
          (x) => !(x.exchange === m.exchange && x.queue === m.queue && x.routingKey === m.routingKey),
        );
        this.reply(ch, 'queue.unbind-ok', {});
        return;
      case 'queue.purge': {
        const q = this.requireQueue(m.queue, 50, 30);
        const n = q.ready.length;
        q.ready = [];
        if (!m.nowait) this.reply(ch, 'queue.purge-ok', { messageCount: n });
        return;
      }
      case 'queue.delete': {
        const q = this.queues.get(m.queue);
        const n = q?.ready.length ?? 0;
        if (q) this.deleteQueue(q.name);
        if (!m.nowait) this.reply(ch, 'queue.delete-ok', { messageCount: n });
        return;
      }
      case 'basic.qos':
        if (m.global) {
          this.o.ledger.violate('protocol-violation', `${ch.key}: global basic.qos (refused by RabbitMQ 4.x)`);
          throw new ChannelFailure(540, 'NOT_IMPLEMENTED - global basic.qos is not supported', 60, 10, true);
        }
        ch.prefetch = m.prefetchCount;
        this.reply(ch, 'basic.qos-ok', {});
        return;
      case 'basic.consume':
        this.consume(ch, m);
        return;
      case 'basic.cancel': {
        const c = ch.consumers.get(m.consumerTag);
        if (c) this.removeConsumer(c);
        if (ch.replyTag === m.consumerTag && ch.replyToken !== undefined) {
          this.replyChannels.delete(ch.replyToken);
          ch.replyToken = undefined;
          ch.replyTag = undefined;
        }
        if (!m.nowait) this.reply(ch, 'basic.cancel-ok', { consumerTag: m.consumerTag });
        return;
      }
      case 'basic.publish':
        if (ch.content.busy)
          throw new ChannelFailure(505, 'UNEXPECTED_FRAME - basic.publish while content was incomplete', 60, 40, true);
        ch.publishArgs = m;
        ch.content.start(m);
        return;
      case 'basic.get':
        this.basicGet(ch, m);
        return;
      case 'basic.ack':
        this.settle(ch, 'ack', m.deliveryTag, m.multiple, false);
        return;
      case 'basic.nack':
        this.settle(ch, 'nack', m.deliveryTag, m.multiple, m.requeue);
        return;
      case 'basic.reject':
        this.settle(ch, 'reject', m.deliveryTag, false, m.requeue);
        return;
      case 'basic.recover':
      case 'basic.recover-async': {
        for (const u of [...ch.unacked.values()]) this.release(ch, u, true);
        if (m.name === 'basic.recover') this.reply(ch, 'basic.recover-ok', {});
        this.dispatch();
        return;
      }
      case 'confirm.select':
        ch.confirm = true;
        if (!m.nowait) this.reply(ch, 'confirm.select-ok', {});
        return;
      default:
        throw new ChannelFailure(540, `NOT_IMPLEMENTED - ${m.name}`, 0, 0, true);
    }
  }

  private requireQueue(name: string, classId: number, methodId: number): QueueState {
    const q = this.queues.get(name);
    if (!q) throw new ChannelFailure(404, `NOT_FOUND - no queue '${name}' in vhost '/'`, classId, methodId);
    return q;
  }

  private exchangeDeclare(ch: ModelChannel, m: MethodOf<'exchange.declare'>): void {
    const existing = this.exchanges.get(m.exchange);
    if (m.passive) {
      if (!existing && m.exchange !== '')
        throw new ChannelFailure(404, `NOT_FOUND - no exchange '${m.exchange}' in vhost '/'`, 40, 10);
    } else if (existing) {
      if (existing.type !== m.type)
        throw new ChannelFailure(
          406,
          `PRECONDITION_FAILED - inequivalent arg 'type' for exchange '${m.exchange}' in vhost '/': received '${m.type}' but current is '${existing.type}'`,
          40,
          10,
        );
      if (existing.durable !== m.durable)
        throw new ChannelFailure(
          406,
          `PRECONDITION_FAILED - inequivalent arg 'durable' for exchange '${m.exchange}' in vhost '/': received '${m.durable}' but current is '${existing.durable}'`,
          40,
          10,
        );
    } else {
      if (m.exchange.startsWith('amq.'))
        throw new ChannelFailure(
          403,
          `ACCESS_REFUSED - exchange name '${m.exchange}' contains reserved prefix 'amq.*'`,
          40,
          10,
        );
      if (!['direct', 'fanout', 'topic', 'headers'].includes(m.type))
        throw new ChannelFailure(503, `COMMAND_INVALID - unknown exchange type '${m.type}'`, 40, 10, true);
      this.exchanges.set(m.exchange, {
        name: m.exchange,
        type: m.type as ExchangeType,
        durable: m.durable,
        autoDelete: m.autoDelete,
        internal: m.internal,
      });
    }
    if (!m.nowait) this.reply(ch, 'exchange.declare-ok', {});
  }

  private queueDeclare(ch: ModelChannel, m: MethodOf<'queue.declare'>): void {
    const name = m.queue === '' ? `amq.gen-sim${++this.queueSeq}` : m.queue;
    let q = this.queues.get(name);
    if (q && q.exclusiveOwner !== undefined && q.exclusiveOwner !== ch.conn.id)
      throw new ChannelFailure(
        405,
        `RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '${name}' in vhost '/'`,
        50,
        10,
      );
    if (m.passive) {
      if (!q) throw new ChannelFailure(404, `NOT_FOUND - no queue '${name}' in vhost '/'`, 50, 10);
    } else if (q) {
      if (q.durable !== m.durable)
        throw new ChannelFailure(
          406,
          `PRECONDITION_FAILED - inequivalent arg 'durable' for queue '${name}' in vhost '/': received '${m.durable}' but current is '${q.durable}'`,
          50,
          10,
        );
      const args = JSON.stringify(m.arguments ?? {});
      if (args !== q.arguments)
        throw new ChannelFailure(
          406,
          `PRECONDITION_FAILED - inequivalent arguments for queue '${name}' in vhost '/'`,
          50,
          10,
        );
    } else {
      if (name.startsWith('amq.') && m.queue !== '')
        throw new ChannelFailure(403, `ACCESS_REFUSED - queue name '${name}' contains reserved prefix 'amq.*'`, 50, 10);
      if (!m.durable && !m.exclusive)
        this.o.ledger.violate('protocol-violation', `${ch.key}: declared transient non-exclusive queue '${name}'`);
      q = {
        name,
        durable: m.durable,
        autoDelete: m.autoDelete,
        exclusiveOwner: m.exclusive ? ch.conn.id : undefined,
        arguments: JSON.stringify(m.arguments ?? {}),
        ready: [],
      };
      this.queues.set(name, q);
    }
    const consumers = this.consumersByQueue.get(name)?.length ?? 0;
    if (!m.nowait)
      this.reply(ch, 'queue.declare-ok', { queue: name, messageCount: q.ready.length, consumerCount: consumers });
  }

  private deleteQueue(name: string): void {
    this.queues.delete(name);
    this.bindings = this.bindings.filter((b) => b.queue !== name);
    for (const c of [...(this.consumersByQueue.get(name) ?? [])]) {
      this.removeConsumer(c);
      if (c.channel.state === 'open' && c.channel.conn.state === 'open')
        c.channel.conn.wire.sendMethod(c.channel.id, 'basic.cancel', { consumerTag: c.tag, nowait: true });
    }
    this.consumersByQueue.delete(name);
  }

  private consume(ch: ModelChannel, m: MethodOf<'basic.consume'>): void {
    const tag = m.consumerTag === '' ? `amq.ctag-sim${++this.tagSeq}` : m.consumerTag;
    if (ch.consumers.has(tag) || ch.replyTag === tag)
      throw new ChannelFailure(530, `NOT_ALLOWED - attempt to reuse consumer tag '${tag}'`, 60, 20, true);
    if (m.queue === REPLY_TO) {
      if (!m.noAck) throw new ChannelFailure(406, 'PRECONDITION_FAILED - reply consumer cannot acknowledge', 60, 20);
      if (ch.replyToken !== undefined)
        throw new ChannelFailure(406, 'PRECONDITION_FAILED - reply consumer already set', 60, 20);
      ch.replyToken = `${ch.key}`;
      ch.replyTag = tag;
      this.replyChannels.set(ch.replyToken, ch);
      if (!m.nowait) this.reply(ch, 'basic.consume-ok', { consumerTag: tag });
      return;
    }
    this.requireQueue(m.queue, 60, 20);
    const others = this.consumersByQueue.get(m.queue) ?? [];
    if (m.exclusive && others.length > 0)
      throw new ChannelFailure(403, `ACCESS_REFUSED - queue '${m.queue}' in vhost '/' in exclusive use`, 60, 20);
    const c: ModelConsumer = { tag, queue: m.queue, noAck: m.noAck, prefetch: ch.prefetch, unacked: 0, channel: ch };
    ch.consumers.set(tag, c);
    others.push(c);
    this.consumersByQueue.set(m.queue, others);
    if (!m.nowait) this.reply(ch, 'basic.consume-ok', { consumerTag: tag });
    this.dispatch();
  }

  private removeConsumer(c: ModelConsumer): void {
    c.channel.consumers.delete(c.tag);
    const list = this.consumersByQueue.get(c.queue);
    if (list) {
      const i = list.indexOf(c);
      if (i >= 0) list.splice(i, 1);
    }
  }

  // ---------------------------------------------------------------------------------------------------
  // Publishing and confirms.

  private contentDone(ch: ModelChannel, done: { properties: BasicProperties; body: Buffer } | null): void {
    if (done === null) return;
    const args = ch.publishArgs!;
    ch.publishArgs = undefined;
    this.publish(ch, args, done.properties, Buffer.from(done.body));
  }

  private publish(ch: ModelChannel, a: MethodOf<'basic.publish'>, props: BasicProperties, body: Buffer): void {
    const ledger = this.o.ledger;
    // The driver tags each publish with x-sim-pub (message ids may repeat on purpose); RPC requests are
    // known by their body.
    const pubId = props.headers?.['x-sim-pub'];
    const messageId = typeof pubId === 'string' ? pubId : undefined;
    const rec = messageId !== undefined ? ledger.publish(messageId) : undefined;
    if (rec) rec.received++;
    const rpcKey = props.correlationId !== undefined && !ch.confirm ? body.toString('utf8') : undefined;
    const poison = (code: number, text: string): never => {
      if (rec && ch.confirm) rec.culprit = text;
      ledger.culpritTexts.add(text);
      if (rpcKey !== undefined) ledger.rpcCulprits.set(rpcKey, text);
      throw new ChannelFailure(code, text, 60, 40);
    };
    const exchange = a.exchange === '' ? undefined : this.exchanges.get(a.exchange);
    if (a.exchange !== '' && exchange === undefined)
      poison(404, `NOT_FOUND - no exchange '${a.exchange}' in vhost '/'`);
    if (this.forbidden.has(a.exchange))
      poison(403, `ACCESS_REFUSED - access to exchange '${a.exchange}' in vhost '/' refused for user 'guest'`);
    if (body.length > this.maxMessageSize)
      poison(
        406,
        `PRECONDITION_FAILED - message size ${body.length} is larger than configured max size ${this.maxMessageSize}`,
      );
    if (props.replyTo === REPLY_TO) {
      if (ch.replyToken === undefined) poison(406, 'PRECONDITION_FAILED - fast reply consumer does not exist');
      props = { ...props, replyTo: `${REPLY_TO}.${ch.replyToken}` };
    }
    const plan = ch.confirm ? this.faults.confirm() : undefined;
    const seq = ch.confirm ? ++ch.publishSeq : 0;
    if (plan?.kind === 'nack') {
      this.log(`${ch.conn.label} FAULT nacks publish #${seq} (${messageId ?? '?'}) on ${ch.key}`);
      this.queueConfirm(ch, { seq, kind: 'nack', messageId, accepted: false }, plan.holdFrames);
      return;
    }
    let routed: boolean;
    if (a.exchange === '' && a.routingKey.startsWith(`${REPLY_TO}.`)) {
      const target = this.replyChannels.get(a.routingKey.slice(REPLY_TO.length + 1));
      if (target && target.state === 'open' && target.replyTag !== undefined) {
        target.conn.wire.sendContent(
          target.id,
          'basic.deliver',
          {
            consumerTag: target.replyTag,
            deliveryTag: ++target.nextTag,
            redelivered: false,
            exchange: '',
            routingKey: a.routingKey,
          },
          props,
          body,
          target.conn.frameMax,
        );
      }
      routed = true; // a reply to a caller that is gone is dropped, never returned
    } else {
      const queues = route(a.exchange, exchange?.type ?? 'direct', a.routingKey, this.bindings, (n) =>
        this.queues.has(n),
      );
      for (const name of queues) {
        const q = this.queues.get(name)!;
        q.ready.push({ exchange: a.exchange, routingKey: a.routingKey, properties: props, body, redelivered: false });
        if (this.o.maxQueueLength !== undefined && q.ready.length > this.o.maxQueueLength) q.ready.shift();
      }
      routed = queues.length > 0;
      if (!routed && a.mandatory) {
        if (rec) rec.returned++;
        if (rpcKey !== undefined) ledger.rpcReturned.add(rpcKey);
        this.log(
          `${ch.conn.label} -> basic.return ${a.exchange}/${a.routingKey} (${messageId ?? props.correlationId ?? '?'})`,
        );
        ch.conn.wire.sendContent(
          ch.id,
          'basic.return',
          { replyCode: 312, replyText: 'NO_ROUTE', exchange: a.exchange, routingKey: a.routingKey },
          props,
          body,
          ch.conn.frameMax,
        );
      }
    }
    if (plan) this.queueConfirm(ch, { seq, kind: 'ack', messageId, accepted: routed || !a.mandatory }, plan.holdFrames);
    this.dispatch();
  }

  private queueConfirm(ch: ModelChannel, p: PendingConfirm, holdFrames: number): void {
    ch.pending.push(p);
    if (holdFrames > 0) {
      ch.holdFrames = Math.max(ch.holdFrames, holdFrames);
      if (ch.holdTimer === undefined) {
        // A client that waits for its confirms sends nothing more: a timer ends the hold too.
        ch.holdTimer = this.later(3 + holdFrames, () => {
          ch.holdTimer = undefined;
          ch.holdFrames = 0;
          this.flushConfirms(ch);
        });
      }
      return;
    }
    if (ch.holdFrames === 0) this.flushConfirms(ch);
  }

  private tickHolds(conn: ModelConnection): void {
    for (const ch of conn.channels.values()) {
      if (ch.holdFrames > 0 && --ch.holdFrames === 0) {
        this.cancel(ch.holdTimer);
        ch.holdTimer = undefined;
        this.flushConfirms(ch);
      }
    }
  }

  /** Sends held confirms in order; consecutive acks go as one `multiple` ack when the injector says so. */
  private flushConfirms(ch: ModelChannel): void {
    if (ch.state !== 'open' || ch.conn.state !== 'open') return;
    const pending = ch.pending;
    ch.pending = [];
    let i = 0;
    while (i < pending.length) {
      const p = pending[i]!;
      if (p.kind === 'nack') {
        this.sendConfirm(ch, 'nack', [p]);
        i++;
        continue;
      }
      let j = i;
      while (j + 1 < pending.length && pending[j + 1]!.kind === 'ack' && pending[j + 1]!.seq === pending[j]!.seq + 1)
        j++;
      const run = pending.slice(i, j + 1);
      if (run.length > 1 && this.faults.chance(0.7)) this.sendConfirm(ch, 'ack', run);
      else for (const one of run) this.sendConfirm(ch, 'ack', [one]);
      i = j + 1;
    }
  }

  private sendConfirm(ch: ModelChannel, kind: 'ack' | 'nack', run: PendingConfirm[]): void {
    const last = run[run.length - 1]!;
    const multiple = run.length > 1;
    if (kind === 'ack') ch.conn.wire.sendMethod(ch.id, 'basic.ack', { deliveryTag: last.seq, multiple });
    else ch.conn.wire.sendMethod(ch.id, 'basic.nack', { deliveryTag: last.seq, multiple, requeue: false });
    if (multiple) this.log(`${ch.conn.label} -> basic.${kind} #${run[0]!.seq}..#${last.seq} multiple on ${ch.key}`);
    const disconnecting = this.o.client.disconnecting();
    const t = this.o.clock.tick();
    for (const p of run) {
      if (p.messageId === undefined) continue;
      const rec = this.o.ledger.publish(p.messageId);
      if (kind === 'nack') rec.nacked++;
      else if (p.accepted) {
        rec.accepted++;
        rec.acceptedAt.push(t);
        if (disconnecting) rec.acceptedWhileDisconnecting++;
      }
    }
  }

  // ---------------------------------------------------------------------------------------------------
  // Deliveries and acknowledgements.

  private basicGet(ch: ModelChannel, m: MethodOf<'basic.get'>): void {
    const q = this.requireQueue(m.queue, 60, 70);
    const msg = q.ready.shift();
    if (msg === undefined) {
      this.reply(ch, 'basic.get-empty', { clusterId: '' });
      return;
    }
    const tag = ++ch.nextTag;
    const deliveryId = this.recordDelivery(ch, q.name, tag, msg, m.noAck);
    if (!m.noAck) ch.unacked.set(tag, { tag, msg, queue: q.name, consumer: undefined, deliveryId });
    ch.conn.wire.sendContent(
      ch.id,
      'basic.get-ok',
      {
        deliveryTag: tag,
        redelivered: msg.redelivered,
        exchange: msg.exchange,
        routingKey: msg.routingKey,
        messageCount: q.ready.length,
      },
      withDeliveryId(msg.properties, deliveryId),
      msg.body,
      ch.conn.frameMax,
    );
  }

  private recordDelivery(ch: ModelChannel, queue: string, tag: number, msg: StoredMessage, noAck: boolean): string {
    const id = `d${++this.deliverySeq}`;
    if (!noAck)
      this.o.ledger.deliveries.set(id, {
        id,
        messageId: msg.properties.messageId,
        queue,
        connId: ch.conn.id,
        channelKey: ch.key,
        tag,
        settled: undefined,
      });
    return id;
  }

  /** Delivers ready messages to consumers with room, round robin per queue. */
  private dispatch(): void {
    for (const [name, q] of this.queues) {
      const consumers = this.consumersByQueue.get(name);
      if (!consumers || consumers.length === 0) continue;
      let start = 0;
      while (q.ready.length > 0) {
        let chosen: ModelConsumer | undefined;
        for (let k = 0; k < consumers.length; k++) {
          const c = consumers[(start + k) % consumers.length]!;
          const ch = c.channel;
          if (ch.state !== 'open' || ch.stalled || ch.conn.state !== 'open' || ch.conn.stopped) continue;
          if (!c.noAck && c.prefetch > 0 && c.unacked >= c.prefetch) continue;
          chosen = c;
          start = (start + k + 1) % consumers.length;
          break;
        }
        if (!chosen) break;
        this.deliver(chosen, q.ready.shift()!, name);
      }
    }
  }

  private deliver(c: ModelConsumer, msg: StoredMessage, queue: string): void {
    const ch = c.channel;
    const tag = ++ch.nextTag;
    const deliveryId = this.recordDelivery(ch, queue, tag, msg, c.noAck);
    if (!c.noAck) {
      ch.unacked.set(tag, { tag, msg, queue, consumer: c, deliveryId });
      c.unacked++;
    }
    this.log(
      `${ch.conn.label} -> deliver ${deliveryId} tag ${tag} ${queue} (${msg.properties.messageId ?? '?'}) on ${ch.key}`,
    );
    ch.conn.wire.sendContent(
      ch.id,
      'basic.deliver',
      {
        consumerTag: c.tag,
        deliveryTag: tag,
        redelivered: msg.redelivered,
        exchange: msg.exchange,
        routingKey: msg.routingKey,
      },
      withDeliveryId(msg.properties, deliveryId),
      msg.body,
      ch.conn.frameMax,
    );
  }

  private settle(
    ch: ModelChannel,
    kind: 'ack' | 'nack' | 'reject',
    tag: number,
    multiple: boolean,
    requeue: boolean,
  ): void {
    const methodId = kind === 'ack' ? 80 : kind === 'nack' ? 120 : 90;
    let targets: Unacked[];
    if (multiple) {
      if (tag !== 0 && !ch.unacked.has(tag)) throw this.unknownTag(ch, kind, tag, methodId);
      targets = [...ch.unacked.values()].filter((u) => tag === 0 || u.tag <= tag);
    } else {
      const u = ch.unacked.get(tag);
      if (u === undefined) throw this.unknownTag(ch, kind, tag, methodId);
      targets = [u];
    }
    const client = this.o.client;
    const ledger = this.o.ledger;
    const covered = new Set(targets);
    for (const u of targets) {
      const d = client.decision(u.deliveryId);
      const what = `${kind}${multiple ? ' (multiple)' : ''}${requeue ? ' requeue' : ''} of ${u.deliveryId} (tag ${u.tag} on ${ch.key}, message ${u.msg.properties.messageId ?? '?'})`;
      if (kind === 'ack') {
        if (d?.kind !== 'ack')
          ledger.violate('ack-unresolved', `${what}: its handler ${d ? `decided ${d.kind}` : 'had not resolved'}`);
      } else if (d !== undefined) {
        if (d.kind !== kind || d.requeue !== requeue)
          ledger.violate('settle-mismatch', `${what}: the client decided ${d.kind}${d.requeue ? ' requeue' : ''}`);
      } else if (!requeue) {
        ledger.violate('settle-mismatch', `${what}: without requeue, but its handler had not finished`);
      }
      if (d !== undefined && !d.deferred) {
        for (const other of ch.unacked.values()) {
          if (covered.has(other)) continue;
          const d2 = client.decision(other.deliveryId);
          if (d2 !== undefined && !d2.deferred && d2.seq < d.seq)
            ledger.violate(
              'ack-reordered',
              `${what} (decided #${d.seq}) arrived before the ${d2.kind} of ${other.deliveryId} (tag ${other.tag}, decided earlier, #${d2.seq})`,
            );
        }
      }
    }
    for (const u of targets) this.release(ch, u, (kind === 'nack' || kind === 'reject') && requeue, kind);
    this.dispatch();
  }

  private release(ch: ModelChannel, u: Unacked, requeue: boolean, kind = 'recover'): void {
    ch.unacked.delete(u.tag);
    if (u.consumer) u.consumer.unacked--;
    const rec = this.o.ledger.deliveries.get(u.deliveryId);
    if (rec) rec.settled = requeue ? `${kind} requeue` : kind;
    if (this.o.prune) {
      this.o.ledger.deliveries.delete(u.deliveryId);
      this.o.client.forget?.(u.deliveryId);
    }
    if (requeue) this.queues.get(u.queue)?.ready.unshift({ ...u.msg, redelivered: true });
  }

  private unknownTag(ch: ModelChannel, kind: string, tag: number, methodId: number): ChannelFailure {
    this.o.ledger.violate(
      'ack-unknown-tag',
      `basic.${kind} of delivery tag ${tag} on ${ch.key}, which has no such unacked delivery`,
    );
    return new ChannelFailure(406, `PRECONDITION_FAILED - unknown delivery tag ${tag}`, 60, methodId);
  }
}

function withDeliveryId(p: BasicProperties, id: string): BasicProperties {
  return { ...p, headers: { ...(p.headers ?? {}), 'x-sim-delivery': id } };
}

function describe(f: Frame): string {
  if (f.type === FRAME_METHOD) {
    const m = f.method as Method & { deliveryTag?: number; multiple?: boolean };
    const extra = m.deliveryTag !== undefined ? ` tag ${m.deliveryTag}${m.multiple ? ' multiple' : ''}` : '';
    return `${f.channel}:${m.name}${extra}`;
  }
  if (f.type === FRAME_HEADER) return `${f.channel}:header(${f.bodySize} bytes, ${f.properties.messageId ?? '-'})`;
  if (f.type === FRAME_BODY) return `${f.channel}:body(${f.payload.length})`;
  return 'heartbeat';
}
