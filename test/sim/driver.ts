/**
 * The client side of a run: the real AsyncRabbitMQ driven by seeded random operations (publish with and
 * without mandatory, poison and large publishes, consumers with ack/nack/reject/throw and manual acks, RPC,
 * consumer stop, disconnect and connect), with a ledger of every promise it started and every handler
 * decision it made.
 */

import type { ConsumeMessage } from '../../src/client/consumer.js';
import { AsyncRabbitMQ, type AsyncRabbitMQOptions, type Consumer, type RabbitMQConfig } from '../../src/index.js';
import { Prng } from './prng.js';
import type { ClientView, Clock, Decision } from './state.js';
import type { Trace } from './trace.js';

/** Relative weights of the driver's operations. */
export interface OpMix {
  publish: number;
  publishUnroutable: number;
  publishNotMandatory: number;
  publishLarge: number;
  publishPoison: number;
  publishSameId: number;
  consume: number;
  stopConsumer: number;
  complete: number;
  /** Two handlers finished and a large message published, all in one tick. */
  completeThenLarge: number;
  rpc: number;
  rpcMissingExchange: number;
  rpcNoQueue: number;
  userChannel: number;
  bounce: number;
  idle: number;
}

export const DEFAULT_MIX: OpMix = {
  publish: 20,
  publishUnroutable: 3,
  publishNotMandatory: 2,
  publishLarge: 2,
  publishPoison: 1,
  publishSameId: 1,
  consume: 3,
  stopConsumer: 1,
  complete: 30,
  completeThenLarge: 2,
  rpc: 5,
  rpcMissingExchange: 1,
  rpcNoQueue: 1,
  userChannel: 2,
  bounce: 1,
  idle: 8,
};

export const SIM_CONFIG: RabbitMQConfig = {
  exchanges: [
    { name: 'sim.direct', type: 'direct' },
    { name: 'sim.topic', type: 'topic' },
    { name: 'sim.fanout', type: 'fanout' },
    { name: 'sim.forbidden', type: 'direct' },
  ],
  queues: [
    { name: 'sim.q1', exchange: 'sim.direct', routingKey: 'k1' },
    { name: 'sim.q2', exchange: 'sim.topic', routingKey: 'a.*' },
    { name: 'sim.q3', exchange: 'sim.fanout' },
    { name: 'sim.q4' },
    { name: 'sim.rpc' },
  ],
};

const ROUTED: ReadonlyArray<[exchange: string, routingKey: string]> = [
  ['', 'sim.q1'],
  ['sim.direct', 'k1'],
  ['sim.topic', 'a.b'],
  ['sim.fanout', 'x'],
  ['', 'sim.q4'],
];

export type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** A promise the driver started, with what it needs to judge the outcome. */
export interface Tracked {
  what: string;
  startedAt: number;
  /** Wall times (performance.now) of start and settlement. */
  startedMs: number;
  settledMs: number;
  settledAt: number | undefined;
  settles: number;
  outcome: Outcome | undefined;
  /** The client's state when the promise settled. */
  stateAtSettle: string | undefined;
  /** True when it settled while the driver was inside disconnect() or the client was not connected. */
  closedAtSettle: boolean;
}

export interface PublishEntry extends Tracked {
  pubId: string;
  exchange: string;
  bytes: number;
  kind: 'routed' | 'unroutable' | 'not-mandatory' | 'large' | 'poison' | 'same-id';
  stateAtStart: string;
}

export interface RpcEntry extends Tracked {
  body: string;
  exchange: string;
  n: number;
  kind: 'ok' | 'remote-fail' | 'missing-exchange' | 'no-queue';
  stateAtStart: string;
}

interface Held {
  id: string;
  plan: string;
  manual: boolean;
  msg: ConsumeMessage<unknown>;
  resolve(): void;
  reject(err: Error): void;
}

interface ConsumerEntry {
  queue: string;
  manual: boolean;
  consumer: Consumer<unknown> | undefined;
  stopResolved: boolean;
  stopping: boolean;
}

export interface DriverOptions {
  seed: number;
  port: number;
  trace: Trace;
  clock: Clock;
  mix: OpMix;
  /** Passed to AsyncRabbitMQ (fast backoff, short timeouts). */
  client?: Partial<AsyncRabbitMQOptions>;
  /** Body size of ordinary publishes (default: a small JSON object). */
  bodyBytes?: number;
  /** Keep settled entries (for the end-of-run checks); false folds them into counters (memory runs). */
  keepSettled?: boolean;
  onSettled?: (e: PublishEntry | RpcEntry) => void;
  violate(invariant: 'stopped-consumer-delivered' | 'publish-settled-once' | 'rpc-settled-once', detail: string): void;
}

export class Driver implements ClientView {
  readonly mq: AsyncRabbitMQ;
  readonly prng: Prng;
  readonly publishes = new Map<string, PublishEntry>();
  readonly rpcs = new Map<string, RpcEntry>();
  readonly others: Tracked[] = [];
  readonly decisions = new Map<string, Decision>();
  readonly held: Held[] = [];
  readonly consumers: ConsumerEntry[] = [];
  /** Inside a disconnect() call of the driver. */
  closing = false;
  errorsReported = 0;
  private pubSeq = 0;
  private rpcSeq = 0;
  private readonly trace: Trace;
  private readonly clock: Clock;

  constructor(private readonly o: DriverOptions) {
    this.prng = new Prng(o.seed, 1);
    this.trace = o.trace;
    this.clock = o.clock;
    this.mq = new AsyncRabbitMQ(SIM_CONFIG, {
      urls: `amqp://guest:guest@127.0.0.1:${o.port}/`,
      heartbeat: 0,
      connectionTimeout: 1000,
      connectRetry: { attempts: 30, baseDelayMs: 1, maxDelayMs: 5, jitter: false },
      reconnect: { baseDelayMs: 1, maxDelayMs: 5, jitter: false },
      disconnectTimeoutMs: 500,
      publish: { maxNackRetries: 2 },
      ...o.client,
    });
    this.mq.on('error', () => {
      this.errorsReported++;
    });
    this.mq.on('disconnected', (err) => this.log(`event disconnected${err ? `: ${err.message}` : ''}`));
    this.mq.on('connected', () => this.log('event connected'));
  }

  private log(what: string): void {
    this.trace.add('client', what);
  }

  // ClientView, for the broker model's live checks.
  decision(deliveryId: string): Decision | undefined {
    return this.decisions.get(deliveryId);
  }

  disconnecting(): boolean {
    return this.closing || this.mq.state === 'disconnecting';
  }

  forget(deliveryId: string): void {
    this.decisions.delete(deliveryId);
  }

  /** True when a ClientClosedError is what the client should answer now. */
  private closedNow(): boolean {
    return this.closing || this.mq.state === 'idle' || this.mq.state === 'disconnecting';
  }

  private track<T extends Tracked>(entry: T, p: Promise<unknown>, kept?: Map<string, T>, key?: string): T {
    kept?.set(key!, entry);
    const done = (outcome: Outcome): void => {
      entry.settles++;
      if (entry.settles > 1) return;
      entry.settledAt = this.clock.tick();
      entry.settledMs = performance.now();
      entry.outcome = outcome;
      entry.stateAtSettle = this.mq.state;
      entry.closedAtSettle = this.closedNow();
      const how = outcome.ok ? 'resolved' : `rejected: ${errText(outcome.error)}`;
      this.log(`${entry.what} ${how}`);
      if ((entry as unknown as PublishEntry).pubId !== undefined || (entry as unknown as RpcEntry).body !== undefined) {
        this.o.onSettled?.(entry as unknown as PublishEntry | RpcEntry);
        if (this.o.keepSettled === false && kept && key) kept.delete(key);
      }
    };
    p.then(
      (value) => done({ ok: true, value }),
      (error: unknown) => done({ ok: false, error }),
    );
    return entry;
  }

  private tracked(what: string): Tracked {
    return {
      what,
      startedAt: this.clock.tick(),
      startedMs: performance.now(),
      settledMs: Number.POSITIVE_INFINITY,
      settledAt: undefined,
      settles: 0,
      outcome: undefined,
      stateAtSettle: undefined,
      closedAtSettle: false,
    };
  }

  /** Tracks a promise of another kind (connect, consume, stop, getChannel). */
  other(what: string, p: Promise<unknown>): Promise<unknown> {
    const entry = this.tracked(what);
    if (this.o.keepSettled !== false) this.others.push(entry);
    this.track(entry, p);
    return p.catch(() => {});
  }

  // ---------------------------------------------------------------------------------------------------
  // Operations.

  /** connect(), waited for at most `limitMs` (a connect that never settles is reported at the end as pending). */
  async connect(limitMs = 5000): Promise<void> {
    this.log('op connect');
    const done = await within(this.other('connect()', this.mq.connect()), limitMs);
    if (!done) this.log(`connect() still pending after ${limitMs} ms; carrying on`);
  }

  /** One random operation. */
  async step(): Promise<void> {
    const op = this.prng.weighted(this.o.mix as unknown as Record<keyof OpMix, number>);
    switch (op) {
      case 'publish': {
        const [ex, key] = this.prng.pick(ROUTED);
        const body = this.o.bodyBytes ? Buffer.alloc(this.o.bodyBytes, 9) : { n: this.pubSeq };
        this.publish('routed', ex, key, body, true);
        return;
      }
      case 'publishUnroutable':
        this.publish('unroutable', 'sim.direct', 'nobody', 'lost', true);
        return;
      case 'publishNotMandatory':
        this.publish('not-mandatory', 'sim.direct', 'nobody', 'dropped', false);
        return;
      case 'publishLarge': {
        const [ex, key] = this.prng.pick(ROUTED);
        this.publish('large', ex, key, Buffer.alloc(this.prng.int(65 * 1024, 120 * 1024), 7), true);
        return;
      }
      case 'publishPoison': {
        const which = this.prng.int(0, 2);
        if (which === 0) this.publish('poison', 'sim.missing', 'k', 'to a missing exchange', true);
        else if (which === 1) this.publish('poison', 'sim.forbidden', 'k', 'to a forbidden exchange', true);
        else this.publish('poison', '', 'sim.q1', Buffer.alloc(600 * 1024, 1), true);
        return;
      }
      case 'publishSameId': {
        // Two messages with one messageId and one routing key: the first routed, the second returned.
        const messageId = `same-${this.pubSeq}`;
        this.publish('same-id', 'sim.direct', 'k1', 'routed twin', true, messageId);
        this.publish('same-id', 'sim.topic', 'k1', 'returned twin', true, messageId);
        return;
      }
      case 'consume':
        this.consume();
        return;
      case 'stopConsumer':
        this.stopConsumer();
        return;
      case 'complete':
        this.completeOne();
        return;
      case 'completeThenLarge': {
        this.completeOne();
        this.completeOne();
        // The handlers' settlements run in the next microtasks: publish after them, in the same tick.
        await Promise.resolve();
        await Promise.resolve();
        const [ex, key] = this.prng.pick(ROUTED);
        this.publish('large', ex, key, Buffer.alloc(this.prng.int(65 * 1024, 120 * 1024), 5), true);
        return;
      }
      case 'rpc':
        this.rpc(this.prng.chance(0.2) ? 'remote-fail' : 'ok');
        return;
      case 'rpcMissingExchange':
        this.rpc('missing-exchange');
        return;
      case 'rpcNoQueue':
        this.rpc('no-queue');
        return;
      case 'userChannel':
        this.userChannel();
        return;
      case 'bounce':
        await this.bounce();
        return;
      case 'idle':
        await sleep(this.prng.int(1, 4));
        return;
    }
  }

  publish(
    kind: PublishEntry['kind'],
    exchange: string,
    routingKey: string,
    body: string | Buffer | Record<string, unknown>,
    mandatory: boolean,
    messageId?: string,
  ): void {
    const pubId = `p${++this.pubSeq}`;
    const entry: PublishEntry = {
      ...this.tracked(`publish ${pubId} (${kind}) ${exchange || "''"}/${routingKey}`),
      pubId,
      exchange,
      bytes: typeof body === 'string' ? Buffer.byteLength(body) : Buffer.isBuffer(body) ? body.length : -1,
      kind,
      stateAtStart: this.mq.state,
    };
    this.log(`op ${entry.what}`);
    const p = this.mq.publishMessage(routingKey, body, {
      exchange,
      mandatory,
      headers: { 'x-sim-pub': pubId },
      ...(messageId ? { messageId } : {}),
    });
    this.track(entry, p, this.publishes, pubId);
  }

  private rpc(kind: RpcEntry['kind']): void {
    const n = ++this.rpcSeq;
    const body = JSON.stringify({ n, fail: kind === 'remote-fail' });
    const entry: RpcEntry = {
      ...this.tracked(`rpc r${n} (${kind})`),
      body,
      exchange: kind === 'missing-exchange' ? 'sim.nope' : '',
      n,
      kind,
      stateAtStart: this.mq.state,
    };
    this.log(`op ${entry.what}`);
    const options = {
      timeoutMs: this.prng.int(300, 900),
      ...(kind === 'missing-exchange' ? { exchange: 'sim.nope' } : {}),
    };
    const key = kind === 'no-queue' ? 'sim.noserver' : 'sim.rpc';
    const p = this.mq.rpc(key, { n, fail: kind === 'remote-fail' }, options);
    this.track(entry, p, this.rpcs, `r${n}`);
  }

  /** The RPC server: echoes `n`, or fails when asked to. */
  startRpcServer(): void {
    this.log('op rpcServer');
    const p = this.mq.rpcServer<{ n: number; fail: boolean }>(
      'sim.rpc',
      (req, msg) => {
        const id = deliveryIdOf(msg);
        // Answered (or failed) now; the consumer acks once the reply is published.
        this.decide(id, 'ack', false);
        if (req.fail) throw new Error(`sim: rpc r${req.n} asked to fail`);
        return { echo: req.n };
      },
      { prefetch: 1 },
    );
    this.other('rpcServer(sim.rpc)', p);
  }

  private consume(): void {
    const queue = this.prng.pick(['sim.q1', 'sim.q2', 'sim.q3']);
    const manual = this.prng.chance(0.4);
    const prefetch = this.prng.int(1, 4);
    const entry: ConsumerEntry = { queue, manual, consumer: undefined, stopResolved: false, stopping: false };
    this.consumers.push(entry);
    const n = this.consumers.length;
    this.log(`op consume #${n} ${queue} (${manual ? 'manual' : 'auto'}, prefetch ${prefetch})`);
    const p = this.mq.consume(
      queue,
      (msg) => {
        const id = deliveryIdOf(msg);
        if (entry.stopResolved)
          this.o.violate(
            'stopped-consumer-delivered',
            `consumer #${n} (${queue}) got delivery ${id} after its stop() resolved`,
          );
        // Drawn from the delivery's own stream: the order handlers run in must not shift later draws.
        const own = new Prng(this.o.seed ^ Number(id.slice(1)), 3);
        const plan = manual
          ? own.weighted({ ack: 50, 'nack-requeue': 15, 'nack-drop': 10, reject: 15, throw: 10 })
          : own.weighted({ resolve: 75, throw: 25 });
        this.log(`handler #${n} ${id} (${msg.properties.messageId ?? '?'}) will ${plan}`);
        return new Promise<void>((resolve, reject) => {
          this.held.push({ id, plan, manual, msg, resolve, reject });
        });
      },
      { manual, prefetch, deadLetter: false },
    );
    p.then(
      (c) => {
        entry.consumer = c;
        c.on('error', () => {
          this.errorsReported++;
        });
      },
      () => {},
    );
    this.other(`consume #${n} ${queue}`, p);
  }

  private stopConsumer(): void {
    const live = this.consumers.filter((c) => c.consumer !== undefined && !c.stopping);
    if (live.length === 0) return;
    const entry = this.prng.pick(live);
    entry.stopping = true;
    const n = this.consumers.indexOf(entry) + 1;
    this.log(`op stop consumer #${n}`);
    const p = entry.consumer!.stop({ timeoutMs: 300 });
    p.then(
      () => {
        entry.stopResolved = true;
        // A long run does not keep every consumer it ever stopped.
        if (this.o.keepSettled === false) this.consumers.splice(this.consumers.indexOf(entry), 1);
      },
      () => {},
    );
    this.other(`stop consumer #${n}`, p);
  }

  private decide(id: string, kind: Decision['kind'], requeue: boolean, deferred = false): void {
    this.decisions.set(id, { kind, requeue, seq: this.clock.tick(), deferred });
  }

  /** Finishes one held handler as planned. Returns false when none was held. */
  completeOne(): boolean {
    if (this.held.length === 0) return false;
    const i = this.prng.int(0, this.held.length - 1);
    const h = this.held.splice(i, 1)[0]!;
    this.log(`complete ${h.id}: ${h.plan}`);
    const m = h.msg;
    switch (h.plan) {
      case 'resolve':
        this.decide(h.id, 'ack', false);
        h.resolve();
        return true;
      case 'throw':
        this.decide(h.id, 'nack', false, true);
        h.reject(new Error(`sim: handler for ${h.id} failed`));
        return true;
      case 'ack':
        if (m.ack()) this.decide(h.id, 'ack', false);
        break;
      case 'nack-requeue':
        if (m.nack({ requeue: true })) this.decide(h.id, 'nack', true);
        break;
      case 'nack-drop':
        if (m.nack({ requeue: false })) this.decide(h.id, 'nack', false);
        break;
      case 'reject':
        if (m.reject({ requeue: false })) this.decide(h.id, 'reject', false);
        break;
    }
    h.resolve();
    return true;
  }

  /**
   * getChannel(): basic.get a few messages from sim.q4, then ack or nack each, in one tick, sometimes followed
   * (in the same tick) by a large publish on that same channel.
   */
  private userChannel(): void {
    this.log('op user channel');
    const count = this.prng.int(1, 3);
    const acks = [this.prng.chance(0.5), this.prng.chance(0.5), this.prng.chance(0.5)];
    const large = this.prng.chance(0.6);
    const work = (async () => {
      const ch = await this.mq.getChannel();
      const got = [];
      for (let k = 0; k < count; k++) {
        const m = await ch.basicGet({ queue: 'sim.q4' });
        if (m === null) break;
        got.push(m);
      }
      got.forEach((m, k) => {
        const id = String(m.properties.headers?.['x-sim-delivery'] ?? '');
        const ack = acks[k]!;
        this.decisions.set(id, { kind: ack ? 'ack' : 'nack', requeue: !ack, seq: this.clock.tick() });
        if (ack) ch.basicAck(m.deliveryTag);
        else ch.basicNack(m.deliveryTag, { requeue: true });
        this.log(`user channel ${ack ? 'acked' : 'nacked'} ${id}`);
      });
      if (large) await ch.basicPublish({ exchange: '', routingKey: 'sim.q3' }, Buffer.alloc(70 * 1024, 3));
    })();
    this.other('user channel', work);
  }

  /** disconnect(), then connect() again. */
  private async bounce(): Promise<void> {
    this.log('op bounce: disconnect');
    const ok = await this.disconnect(10_000);
    if (!ok) return;
    await sleep(this.prng.int(0, 3));
    await this.connect();
    if (this.prng.chance(0.5)) this.startRpcServer();
  }

  /** Calls disconnect(); resolves with false when it did not resolve within `limitMs`. */
  async disconnect(limitMs: number): Promise<boolean> {
    this.closing = true;
    const p = this.mq.disconnect();
    const finished = await within(this.other('disconnect()', p), limitMs);
    this.closing = !finished;
    this.log(finished ? 'disconnect() resolved' : `disconnect() still pending after ${limitMs} ms`);
    return finished;
  }

  /** Consumers whose stop() resolved but that are not stopped now (they subscribed again). */
  cameBack(): string[] {
    const out: string[] = [];
    this.consumers.forEach((c, i) => {
      if (c.stopResolved && c.consumer && c.consumer.state !== 'stopped')
        out.push(
          `consumer #${i + 1} (${c.queue}) is ${c.consumer.state} (tag ${c.consumer.consumerTag}) after its stop() resolved`,
        );
    });
    return out;
  }

  /** Publishes made so far. */
  get published(): number {
    return this.pubSeq;
  }

  /** Promises started and not settled. */
  pending(): string[] {
    const out: string[] = [];
    for (const e of this.publishes.values()) if (e.settles === 0) out.push(e.what);
    for (const e of this.rpcs.values()) if (e.settles === 0) out.push(e.what);
    for (const e of this.others) if (e.settles === 0) out.push(e.what);
    return out;
  }
}

function deliveryIdOf(msg: ConsumeMessage<unknown>): string {
  const id = msg.headers['x-sim-delivery'];
  return typeof id === 'string' ? id : String(id);
}

export function errText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return `${err.name}${typeof code === 'string' ? ` ${code}` : ''}: ${err.message}`;
  }
  return String(err);
}

/** Waits for `p` (its outcome ignored) at most `ms`; true when it settled. Leaves no timer. */
export async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), ms);
    }),
  ]);
  clearTimeout(timer);
  return settled;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
