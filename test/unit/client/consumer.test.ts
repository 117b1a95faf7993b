/**
 * consume() without a broker: option checks, header helpers, payload decoding, and the settling pipeline
 * driven through a fake client, connection and channel.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { validateConfig } from '../../../src/client/config.js';
import {
  attemptOf,
  type ConsumerHost,
  ConsumerOptionsError,
  consume,
  deadLetterHeaders,
  decodePayload,
  HandlerError,
  originOf,
  resolveOptions,
  retryHeaders,
} from '../../../src/client/consumer.js';
import { UnroutableError } from '../../../src/client/errors.js';
import type { MessageBody, PublishMessageOptions } from '../../../src/client/message.js';
import type { Participant, Session } from '../../../src/client/session/types.js';
import { silentLogger } from '../../../src/client/settings.js';
import type { BasicConsumeOptions, Delivery } from '../../../src/connection/channel.js';
import type { Connection } from '../../../src/connection/connection.js';
import { ConnectionError } from '../../../src/protocol/errors.js';

// ---------------------------------------------------------------------------------------------------------
// Fakes.

class FakeChannel extends EventEmitter {
  open = true;
  calls: string[] = [];
  consumers = new Map<string, (d: Delivery) => void>();
  private nextTag = 1;
  constructor(readonly conn: FakeConnection) {
    super();
  }
  get isOpen(): boolean {
    return this.open;
  }
  async basicQos(a: { prefetchCount?: number }): Promise<void> {
    this.calls.push(`qos ${a.prefetchCount}`);
  }
  async basicConsume(o: BasicConsumeOptions, fn: (d: Delivery) => void): Promise<{ consumerTag: string }> {
    const consumerTag = o.consumerTag || `ctag-${this.conn.id}-${this.nextTag++}`;
    this.consumers.set(consumerTag, fn);
    this.calls.push(`consume ${o.queue}`);
    return { consumerTag };
  }
  async basicCancel(tag: string): Promise<void> {
    this.consumers.delete(tag);
    this.calls.push(`cancel ${tag}`);
  }
  basicAck(tag: number): boolean {
    if (!this.open) return false;
    this.calls.push(`ack ${tag}`);
    return true;
  }
  basicNack(tag: number, o: { requeue?: boolean }): boolean {
    if (!this.open) return false;
    this.calls.push(`nack ${tag} requeue=${o.requeue}`);
    return true;
  }
  basicReject(tag: number, o: { requeue?: boolean }): boolean {
    if (!this.open) return false;
    this.calls.push(`reject ${tag} requeue=${o.requeue}`);
    return true;
  }
  async queueDeclare(a: { queue: string }): Promise<{ queue: string; messageCount: number; consumerCount: number }> {
    this.conn.declared.push(`queue ${a.queue}`);
    return { queue: a.queue, messageCount: 0, consumerCount: 0 };
  }
  async exchangeDeclare(a: { exchange: string }): Promise<void> {
    this.conn.declared.push(`exchange ${a.exchange}`);
  }
  async queueBind(a: { queue: string; exchange: string }): Promise<void> {
    this.conn.declared.push(`bind ${a.queue} ${a.exchange}`);
  }
  async close(): Promise<void> {
    this.kill(undefined);
  }
  kill(err: Error | undefined): void {
    if (!this.open) return;
    this.open = false;
    this.emit('close', err);
  }
  /** Delivers a message to the (single) consumer of this channel. */
  deliver(deliveryTag: number, body: string, headers?: Record<string, unknown>, extra: object = {}): void {
    const first = [...this.consumers][0];
    if (first === undefined) throw new Error('no consumer');
    const [consumerTag, fn] = first;
    fn({
      consumerTag,
      deliveryTag,
      redelivered: false,
      exchange: 'ex',
      routingKey: 'rk',
      properties: { headers: headers as Delivery['properties']['headers'], messageId: `id-${deliveryTag}` },
      body: Buffer.from(body),
      ...extra,
    });
  }
}

let connIds = 0;
class FakeConnection extends EventEmitter {
  readonly id = ++connIds;
  open = true;
  channels: FakeChannel[] = [];
  declared: string[] = [];
  /** While set, channel.open waits for it (a slow broker). */
  gate: Promise<void> | undefined;
  get isOpen(): boolean {
    return this.open;
  }
  async createChannel(): Promise<FakeChannel> {
    if (this.gate) await this.gate;
    const ch = new FakeChannel(this);
    this.channels.push(ch);
    return ch;
  }
  /** The channel that consumes (the one with a consumer). */
  get consuming(): FakeChannel {
    const ch = this.channels.find((c) => c.consumers.size > 0 || c.calls.some((x) => x.startsWith('consume')));
    if (!ch) throw new Error('no consuming channel');
    return ch;
  }
  kill(): void {
    this.open = false;
    for (const ch of this.channels) ch.kill(new ConnectionError('gone'));
  }
}

interface Published {
  routingKey: string;
  body: MessageBody;
  options: PublishMessageOptions;
}

/** A fake session: one generation per fake connection, participants attached and detached as the real one does. */
function fakeHost(queues: string[] = []) {
  const participants = new Set<Participant>();
  const published: Published[] = [];
  const errors: unknown[] = [];
  let publishImpl: (p: Published) => Promise<void> = async () => {};
  let conn: FakeConnection | undefined = new FakeConnection();
  let gen = 1;
  const session = {
    config: validateConfig({ queues: queues.map((name) => ({ name })) }),
    logger: silentLogger,
    state: 'ready',
    serverNamedQueues: [],
    get current() {
      return conn?.isOpen ? { conn: conn as unknown as Connection, gen } : undefined;
    },
    publish(routingKey: string, body: MessageBody, options: PublishMessageOptions = {}) {
      const p = { routingKey, body, options };
      published.push(p);
      return publishImpl(p);
    },
    async join(p: Participant) {
      participants.add(p);
      if (conn?.isOpen) await p.attach(conn as unknown as Connection, gen);
    },
    leave(p: Participant) {
      participants.delete(p);
    },
    ready: () => Promise.reject(new Error('not used')),
    report(err: unknown) {
      errors.push(err);
    },
  } satisfies Session;
  return {
    host: { session } as ConsumerHost,
    published,
    errors,
    participants,
    get conn() {
      return conn!;
    },
    setPublish(fn: (p: Published) => Promise<void>) {
      publishImpl = fn;
    },
    /** Loses the connection, then attaches a new one (whose channels wait for `gate`, if given). */
    async reconnect(gate?: Promise<void>): Promise<FakeConnection> {
      const old = conn!;
      old.kill();
      for (const p of participants) p.detach(gen, new ConnectionError('gone'));
      gen++;
      conn = new FakeConnection();
      conn.gate = gate;
      for (const p of participants) await p.attach(conn as unknown as Connection, gen);
      return conn;
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

function deferred() {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

// ---------------------------------------------------------------------------------------------------------

describe('resolveOptions', () => {
  const noop = () => {};
  it('fills the documented defaults', () => {
    const o = resolveOptions('jobs', noop, {});
    expect(o).toMatchObject({
      prefetch: 1,
      concurrency: 1,
      json: false,
      attempts: 1,
      delays: [],
      deadLetter: { exchange: 'jobs.dead', routingKey: undefined, declare: true },
      exclusive: false,
      manual: false,
    });
    expect(resolveOptions('jobs', noop, { prefetch: 20 }).concurrency).toBe(20);
    expect(resolveOptions('amq.gen-x', noop, {}).deadLetter).toBe(false);
  });

  it('computes one delay per retry and sets x-priority', () => {
    const o = resolveOptions('jobs', noop, { retry: { attempts: 4, delayMs: (n) => 100 * 2 ** (n - 1) }, priority: 3 });
    expect(o.delays).toEqual([100, 200, 400]);
    expect(o.consumeArguments).toEqual({ 'x-priority': 3 });
    expect(resolveOptions('jobs', noop, { retry: { attempts: 3, delayMs: 5 } }).delays).toEqual([5, 5]);
    expect(resolveOptions('jobs', noop, { schema: { parse: (v: unknown) => v } }).json).toBe(true);
  });

  it.each([
    [{ prefetch: 0 }, /prefetch/],
    [{ prefetch: 70000 }, /prefetch/],
    [{ concurrency: 1.5 }, /concurrency/],
    [{ retry: { attempts: 0, delayMs: 1 } }, /attempts/],
    [{ retry: { attempts: 3, delayMs: -1 } }, /delayMs/],
    [{ retry: { attempts: 3, delayMs: () => Number.NaN } }, /delayMs/],
    [{ retry: { attempts: 3, delayMs: 'soon' } }, /delayMs/],
    [{ deadLetter: { routingKey: 'x' } }, /deadLetter/],
    [{ schema: {} }, /schema/],
    [{ handlerTimeoutMs: 0 }, /handlerTimeoutMs/],
    [{ priority: 1.2 }, /priority/],
  ])('rejects %j', (options, message) => {
    expect(() => resolveOptions('jobs', noop, options as never)).toThrow(ConsumerOptionsError);
    expect(() => resolveOptions('jobs', noop, options as never)).toThrow(message);
  });

  it('rejects a missing queue or handler, and retries on an amq.* queue', () => {
    expect(() => resolveOptions('', noop, {})).toThrow(/queue/);
    expect(() => resolveOptions('q', 'nope', {})).toThrow(/handler/);
    expect(() => resolveOptions('amq.gen-1', noop, { retry: { attempts: 2, delayMs: 1 } })).toThrow(/amq\./);
  });
});

describe('headers and decoding', () => {
  const delivery = (headers?: Record<string, unknown>): Delivery => ({
    consumerTag: 't',
    deliveryTag: 1,
    redelivered: false,
    exchange: '',
    routingKey: 'jobs',
    properties: { headers: headers as Delivery['properties']['headers'] },
    body: Buffer.from('x'),
  });

  it('reads the attempt from x-warren-attempt (number, bigint or string), 1 otherwise', () => {
    expect(attemptOf(undefined)).toBe(1);
    expect(attemptOf({ 'x-warren-attempt': 3 })).toBe(3);
    expect(attemptOf({ 'x-warren-attempt': 4n })).toBe(4);
    expect(attemptOf({ 'x-warren-attempt': '5' })).toBe(5);
    expect(attemptOf({ 'x-warren-attempt': 0 })).toBe(1);
    expect(attemptOf({ 'x-warren-attempt': 'x' })).toBe(1);
  });

  it('keeps the first origin across retry hops and drops the broker death headers', () => {
    const first = retryHeaders(
      { ...delivery({ a: 1 }), exchange: 'orders', routingKey: 'o.created' },
      2,
      new Error('e1'),
    );
    expect(first).toEqual({
      a: 1,
      'x-warren-attempt': 2,
      'x-warren-original-exchange': 'orders',
      'x-warren-original-routing-key': 'o.created',
      'x-warren-error': 'e1',
    });
    const hop = delivery({
      ...first,
      'x-death': [{ count: 1 }],
      'x-first-death-queue': 'q',
      'x-last-death-reason': 'expired',
    });
    expect(originOf(hop)).toEqual({ exchange: 'orders', routingKey: 'o.created' });
    const second = retryHeaders(hop, 3, 'e2');
    expect(second['x-death']).toBeUndefined();
    expect(second['x-first-death-queue']).toBeUndefined();
    expect(second['x-last-death-reason']).toBeUndefined();
    expect(second['x-warren-original-routing-key']).toBe('o.created');
    const dead = deadLetterHeaders(delivery(second), 'jobs', 3, new Error('e3'));
    expect(dead).toEqual({
      a: 1,
      'x-warren-error': 'e3',
      'x-warren-attempts': 3,
      'x-warren-original-exchange': 'orders',
      'x-warren-original-routing-key': 'o.created',
      'x-warren-queue': 'jobs',
    });
  });

  it('cuts long error texts', () => {
    const h = deadLetterHeaders(delivery(), 'q', 1, new Error('x'.repeat(5000)));
    expect(String(h['x-warren-error']).length).toBe(1000);
  });

  it('decodes JSON and schemas (safeParse preferred, parse accepted)', () => {
    const body = Buffer.from('{"n":2}');
    expect(decodePayload(body, false, undefined)).toEqual({ ok: true, value: body });
    expect(decodePayload(body, true, undefined)).toEqual({ ok: true, value: { n: 2 } });
    expect(decodePayload(Buffer.from('{'), true, undefined)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^invalid JSON payload/),
    });
    const safe = {
      safeParse: (v: unknown) => ({ success: (v as { n: number }).n > 1, data: 'big', error: 'too small' }),
    };
    expect(decodePayload(body, true, safe)).toEqual({ ok: true, value: 'big' });
    expect(decodePayload(Buffer.from('{"n":0}'), true, safe)).toMatchObject({
      ok: false,
      error: 'schema validation failed: too small',
    });
    const parse = {
      parse: (v: unknown) => {
        if ((v as { n: number }).n !== 2) throw new Error('not two');
        return 'two';
      },
    };
    expect(decodePayload(body, true, parse)).toEqual({ ok: true, value: 'two' });
    expect(decodePayload(Buffer.from('{"n":3}'), true, parse)).toMatchObject({
      ok: false,
      error: 'schema validation failed: not two',
    });
  });
});

describe('consume pipeline (fake broker)', () => {
  it('subscribes with its qos after declaring the retry queues and the dead-letter target', async () => {
    const f = fakeHost();
    const consumer = await consume(f.host, 'jobs', () => {}, {
      prefetch: 7,
      retry: { attempts: 3, delayMs: (n) => n * 10 },
    });
    expect(f.conn.declared).toEqual([
      'queue jobs.retry.10',
      'queue jobs.retry.20',
      'exchange jobs.dead',
      'queue jobs.dead',
      'bind jobs.dead jobs.dead',
    ]);
    expect(f.conn.consuming.calls).toEqual(['qos 7', 'consume jobs']);
    expect(consumer.state).toBe('active');
    await consumer.stop();
    expect(f.participants.size).toBe(0);
  });

  it('acks the original only after the retry copy is confirmed', async () => {
    const f = fakeHost();
    const confirm = deferred();
    f.setPublish(() => confirm.promise);
    const consumer = await consume(
      f.host,
      'jobs',
      () => {
        throw new Error('fail');
      },
      { retry: { attempts: 2, delayMs: 50 } },
    );
    const ch = f.conn.consuming;
    ch.deliver(1, 'm');
    await tick();
    expect(f.published).toHaveLength(1);
    expect(f.published[0]).toMatchObject({
      routingKey: 'jobs.retry.50',
      options: { exchange: '', mandatory: true, messageId: 'id-1', headers: { 'x-warren-attempt': 2 } },
    });
    expect(ch.calls).not.toContain('ack 1');
    expect(consumer.inFlight).toBe(1);
    confirm.resolve();
    await tick();
    expect(ch.calls).toContain('ack 1');
    expect(consumer.inFlight).toBe(0);
    expect(f.errors).toHaveLength(1);
    expect(f.errors[0]).toBeInstanceOf(HandlerError);
    await consumer.stop();
  });

  it('never acks a delivery of a dead channel on the new one', async () => {
    const f = fakeHost();
    const gate = deferred();
    const consumer = await consume(f.host, 'jobs', () => gate.promise, { prefetch: 2 });
    const old = f.conn.consuming;
    old.deliver(1, 'a');
    old.deliver(2, 'b');
    const conn2 = await f.reconnect();
    expect(consumer.state).toBe('active');
    const fresh = conn2.consuming;
    expect(fresh.calls).toEqual(['qos 2', 'consume jobs']);
    gate.resolve();
    await tick();
    expect(old.calls.filter((c) => c.startsWith('ack'))).toEqual([]);
    expect(fresh.calls.filter((c) => c.startsWith('ack'))).toEqual([]);
    expect(consumer.inFlight).toBe(0);
    fresh.deliver(1, 'a again');
    await tick();
    expect(fresh.calls).toContain('ack 1');
    await consumer.stop();
  });

  it('does not republish a failed message whose channel died: the broker redelivers it', async () => {
    const f = fakeHost();
    const gate = deferred();
    const consumer = await consume(
      f.host,
      'jobs',
      async () => {
        await gate.promise;
        throw new Error('late failure');
      },
      { retry: { attempts: 3, delayMs: 10 } },
    );
    await tick(); // deliveries start once the caller has the consumer
    f.conn.consuming.deliver(1, 'a');
    await f.reconnect();
    gate.resolve();
    await tick();
    expect(f.published).toEqual([]);
    expect((f.errors[0] as HandlerError).outcome).toBe('redeliver');
    await consumer.stop();
  });

  it('deliveries arriving with the subscription wait until the caller has the consumer (its error listener sees the first failure)', async () => {
    const f = fakeHost();
    const ran: string[] = [];
    const pending = consume(f.host, 'jobs', (m) => {
      ran.push(m.body.toString());
      throw new Error('fails');
    });
    // The broker's first delivery comes right behind consume-ok, before consume() has resolved.
    await new Promise((r) => setImmediate(r));
    const early = f.conn.consuming;
    early.deliver(1, 'first');
    expect(ran).toEqual([]);
    const consumer = await pending;
    const errors: unknown[] = [];
    consumer.on('error', (e) => errors.push(e));
    expect(ran).toEqual([]);
    await tick();
    await tick();
    expect(ran).toEqual(['first']);
    expect(errors).toHaveLength(1);
    expect(f.errors).toEqual([]); // not the client's: the consumer's listener had it
    await consumer.stop();
  });

  it('a synchronous handler is settled at once; 50 000 deliveries held behind one slow one are run in order, acked, without recursion', async () => {
    const f = fakeHost();
    const gate = deferred();
    const seen: string[] = [];
    await consume(
      f.host,
      'jobs',
      (m) => {
        const body = m.body.toString();
        seen.push(body);
        // The first one waits: every later delivery is held for the single handler slot meanwhile.
        return body === 'm1' ? gate.promise : undefined;
      },
      { prefetch: 60_000, concurrency: 1 },
    );
    await tick(); // deliveries start once the caller has the consumer
    const ch = f.conn.consuming;
    ch.deliver(1, 'm1');
    expect(ch.calls).not.toContain('ack 1');
    const n = 50_000;
    for (let tag = 2; tag <= n; tag++) ch.deliver(tag, `m${tag}`);
    expect(seen).toEqual(['m1']);
    gate.resolve();
    await tick();
    expect(seen).toHaveLength(n);
    expect(seen.every((b, i) => b === `m${i + 1}`)).toBe(true);
    const acks = ch.calls.filter((c) => c.startsWith('ack '));
    expect(acks).toHaveLength(n);
    expect(acks[0]).toBe('ack 1');
    expect(acks.at(-1)).toBe(`ack ${n}`);
    // Delivered while nothing else runs: acked before deliver() returns (no promise, no await).
    ch.deliver(n + 1, 'late');
    expect(ch.calls.at(-1)).toBe(`ack ${n + 1}`);
  });

  it('holds deliveries beyond `concurrency`; stop() requeues the unstarted ones and waits for the running ones', async () => {
    const f = fakeHost();
    const gate = deferred();
    let started = 0;
    const consumer = await consume(
      f.host,
      'jobs',
      async () => {
        started++;
        await gate.promise;
      },
      { prefetch: 5, concurrency: 2 },
    );
    const ch = f.conn.consuming;
    for (let tag = 1; tag <= 5; tag++) ch.deliver(tag, `m${tag}`);
    await tick();
    expect(started).toBe(2);
    expect(consumer.inFlight).toBe(5);
    expect(consumer.activeHandlers).toBe(2);
    const onDelivery = [...ch.consumers.values()][0]!;
    const stopping = consumer.stop();
    await tick();
    expect(ch.calls.filter((c) => c.startsWith('nack'))).toEqual([
      'nack 3 requeue=true',
      'nack 4 requeue=true',
      'nack 5 requeue=true',
    ]);
    // A delivery arriving between basic.cancel and cancel-ok is given back untouched.
    onDelivery({
      consumerTag: 'x',
      deliveryTag: 6,
      redelivered: false,
      exchange: '',
      routingKey: 'jobs',
      properties: {},
      body: Buffer.from(''),
    });
    expect(ch.calls).toContain('nack 6 requeue=true');
    expect(consumer.state).toBe('stopping');
    gate.resolve();
    await stopping;
    expect(started).toBe(2);
    expect(ch.calls.filter((c) => c.startsWith('ack'))).toEqual(['ack 1', 'ack 2']);
    expect(ch.isOpen).toBe(false);
  });

  it('re-declares its retry queue once when the retry copy comes back unroutable', async () => {
    const f = fakeHost();
    let calls = 0;
    f.setPublish(async (p) => {
      calls++;
      if (calls === 1) throw new UnroutableError('', p.routingKey, 312, 'NO_ROUTE');
    });
    const consumer = await consume(
      f.host,
      'jobs',
      () => {
        throw new Error('x');
      },
      { retry: { attempts: 2, delayMs: 10 } },
    );
    consumer.on('error', () => {});
    const declaredBefore = f.conn.declared.length;
    f.conn.consuming.deliver(1, 'a');
    await vi.waitFor(() => expect(f.conn.consuming.calls).toContain('ack 1'));
    expect(calls).toBe(2);
    expect(f.conn.declared.length).toBeGreaterThan(declaredBefore);
    await consumer.stop();
  });

  it('requeues (after a pause) a message whose dead-letter copy cannot be published: never lost', async () => {
    const f = fakeHost();
    f.setPublish(async () => {
      throw new Error('publish failed');
    });
    const consumer = await consume(f.host, 'jobs', () => {
      throw new Error('x');
    });
    const errors: unknown[] = [];
    consumer.on('error', (e) => errors.push(e));
    const ch = f.conn.consuming;
    const t0 = Date.now();
    ch.deliver(1, 'a');
    await vi.waitFor(() => expect(ch.calls).toContain('nack 1 requeue=true'), { timeout: 3000 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(ch.calls).not.toContain('ack 1');
    expect(errors).toHaveLength(2);
    await consumer.stop();
  });

  it('reopens its channel after a channel-level error on a live connection', async () => {
    const f = fakeHost();
    const consumer = await consume(f.host, 'jobs', () => {});
    consumer.on('error', () => {});
    const first = f.conn.consuming;
    first.kill(new Error('406 PRECONDITION_FAILED'));
    expect(consumer.state).toBe('recovering');
    await vi.waitFor(() => expect(consumer.state).toBe('active'), { timeout: 2000 });
    const consuming = f.conn.channels.filter((c) => c.calls.includes('consume jobs'));
    expect(consuming).toHaveLength(2);
    await consumer.stop();
  });

  it('resubscribes after a server cancel, re-declaring the queue from the topology', async () => {
    const f = fakeHost(['jobs']);
    const consumer = await consume(f.host, 'jobs', () => {}, { deadLetter: false });
    const ch = f.conn.consuming;
    const [tag] = [...ch.consumers.keys()];
    ch.consumers.delete(tag!);
    ch.emit('cancel', tag);
    await vi.waitFor(() => expect(consumer.state).toBe('active'));
    expect(f.conn.declared).toContain('queue jobs');
    expect(ch.calls.filter((c) => c === 'consume jobs')).toHaveLength(2);
    await consumer.stop();
  });

  it('a consumer stopped during a slow re-subscribe stays stopped: no basic.consume afterwards, no handler runs', async () => {
    const f = fakeHost();
    let handled = 0;
    const consumer = await consume(f.host, 'jobs', () => {
      handled++;
    });
    const slow = deferred();
    const reconnecting = f.reconnect(slow.promise);
    await tick();
    await consumer.stop({ timeoutMs: 100 });
    expect(consumer.state).toBe('stopped');
    slow.resolve();
    await reconnecting;
    await tick();
    const fresh = f.conn;
    expect(fresh.channels.flatMap((c) => c.calls).filter((c) => c.startsWith('consume'))).toEqual([]);
    for (const ch of fresh.channels) if (ch.consumers.size > 0) ch.deliver(1, 'late');
    await tick();
    expect(handled).toBe(0);
    expect(fresh.channels.filter((c) => c.open)).toEqual([]);
    expect(consumer.state).toBe('stopped');
  });

  it('dead-letters a delivery whose content header could not be decoded, without calling the handler', async () => {
    const f = fakeHost();
    let handled = 0;
    const consumer = await consume(f.host, 'jobs', () => {
      handled++;
    });
    const errors: unknown[] = [];
    consumer.on('error', (e) => errors.push(e));
    const ch = f.conn.consuming;
    ch.deliver(1, 'x', undefined, { decodeError: new Error('malformed field table in the content header') });
    await vi.waitFor(() => expect(ch.calls).toContain('ack 1'));
    expect(handled).toBe(0);
    expect(f.published).toHaveLength(1);
    expect(f.published[0]!.routingKey).toBe('rk');
    expect(f.published[0]!.options.exchange).toBe('jobs.dead');
    expect(String(f.published[0]!.options.headers?.['x-warren-error'])).toContain('malformed field table');
    expect(errors).toHaveLength(1);
    await consumer.stop();
  });

  it('an attach of an old generation that completes late subscribes nowhere: the consumer is on the newest only', async () => {
    const f = fakeHost();
    const consumer = await consume(f.host, 'jobs', () => {});
    const slow = deferred();
    const second = f.reconnect(slow.promise);
    await tick();
    const conn2 = f.conn;
    const third = f.reconnect();
    await tick();
    slow.resolve();
    await Promise.all([second, third]);
    await vi.waitFor(() => expect(consumer.state).toBe('active'));
    expect(conn2.channels.flatMap((c) => c.calls).filter((c) => c.startsWith('consume'))).toEqual([]);
    expect(f.conn.channels.flatMap((c) => c.calls).filter((c) => c.startsWith('consume'))).toEqual(['consume jobs']);
    await consumer.stop();
    expect(f.conn.channels.filter((c) => c.open)).toEqual([]);
  });
});
