/**
 * warren's diagnostics channels and mq.stats() against the real broker: exactly the events of one
 * publish + consume with their payloads, the failure path (retry, dead-letter), and nothing made for a
 * channel nobody listens to.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HandlerError, UnroutableError } from '../../../src/client/index.js';
import {
  CHANNELS,
  type ClientInfo,
  type DeliverEvent,
  HANDLER_ERROR_WARNING,
  type PublishEvent,
  type SettleEvent,
} from '../../../src/client/observe/index.js';
import { waitFor } from '../../helpers/wait.js';
import { consumeFixture } from '../client/consume-fixture.js';

const { client, queueName } = consumeFixture();

/** Records every event of every warren channel, in order, until stopped. */
function record(): { events: Array<{ name: string; data: unknown }>; stop(): void } {
  const events: Array<{ name: string; data: unknown }> = [];
  const listeners = Object.values(CHANNELS).map((name) => {
    const fn = (data: unknown) => events.push({ name, data });
    subscribe(name, fn);
    return () => unsubscribe(name, fn);
  });
  return {
    events,
    stop: () => {
      for (const off of listeners) off();
    },
  };
}

let recorder: ReturnType<typeof record> | undefined;
afterEach(() => {
  recorder?.stop();
  recorder = undefined;
});

const PUBLISHING: string[] = [
  CHANNELS.publish,
  CHANNELS.publishConfirm,
  CHANNELS.publishNack,
  CHANNELS.publishReturn,
  CHANNELS.publishError,
];
const CONSUMING: string[] = [CHANNELS.deliver, CHANNELS.deliverDone, CHANNELS.settle];

/** The names of the events of these channels, in order. */
function chain(events: Array<{ name: string }>, names: string[]): string[] {
  return events.map((e) => e.name).filter((n) => names.includes(n));
}

/** The events of one client (other clients of this file may publish meanwhile). */
function of(client: ClientInfo, events: Array<{ name: string; data: unknown }>) {
  return events.filter((e) => {
    const c = (e.data as { client?: ClientInfo }).client;
    return c === undefined || c.id === client.id;
  });
}

describe('diagnostics channels', () => {
  it('one publish and its consumption publish exactly connect, publish, confirm, deliver, deliver:done, settle', async () => {
    const q = queueName('observe.events');
    recorder = record();
    const mq = await client({ queues: [{ name: q }] });
    const seen: string[] = [];
    const consumer = await mq.consume(q, (msg) => {
      seen.push(msg.body.toString());
    });
    await mq.publishMessage(q, 'hello', { messageId: 'm-1', correlationId: 'c-1', headers: { 'x-a': 1 } });
    await waitFor(() => seen.length === 1, 'the delivery');
    await waitFor(() => recorder!.events.some((e) => e.name === CHANNELS.settle), 'the settle event');
    const connect = recorder.events.find((e) => e.name === CHANNELS.connect)!.data as {
      client: ClientInfo;
      url: string;
    };
    const events = of(connect.client, recorder.events);
    // The broker confirms to the publisher and delivers to the consumer independently: the two chains
    // interleave in any order, each in its own order.
    expect(events.map((e) => e.name).sort()).toEqual(
      [
        CHANNELS.connect,
        CHANNELS.publish,
        CHANNELS.publishConfirm,
        CHANNELS.deliver,
        CHANNELS.deliverDone,
        CHANNELS.settle,
      ].sort(),
    );
    expect(events[0]!.name).toBe(CHANNELS.connect);
    expect(events[1]!.name).toBe(CHANNELS.publish);
    expect(chain(events, PUBLISHING)).toEqual([CHANNELS.publish, CHANNELS.publishConfirm]);
    expect(chain(events, CONSUMING)).toEqual([CHANNELS.deliver, CHANNELS.deliverDone, CHANNELS.settle]);
    const named = (name: string) => events.find((e) => e.name === name)!.data;
    expect(connect.url).toMatch(/^amqp:\/\/guest:\*+@127\.0\.0\.1:\d+/);
    expect(connect.client.serverAddress).toBe('127.0.0.1');
    expect(connect.client.serverPort).toBe(Number(new URL(connect.url).port));

    const pub = named(CHANNELS.publish) as PublishEvent;
    expect(named(CHANNELS.publishConfirm)).toBe(pub); // the same object, completed
    expect(pub).toMatchObject({ exchange: '', routingKey: q, mandatory: true, bodySize: 5, error: undefined });
    expect(pub.properties).toMatchObject({ messageId: 'm-1', correlationId: 'c-1', headers: { 'x-a': 1 } });
    expect(pub.durationMs).toBeGreaterThan(0);

    const deliver = named(CHANNELS.deliver) as DeliverEvent;
    expect(named(CHANNELS.deliverDone)).toBe(deliver);
    expect(deliver.queue).toBe(q);
    expect(deliver.message.body.toString()).toBe('hello');
    expect(deliver.message.properties.messageId).toBe('m-1');
    expect(deliver.message.fields.routingKey).toBe(q);
    expect(deliver.error).toBeUndefined();
    expect(deliver.durationMs).toBeGreaterThanOrEqual(0);

    const settle = named(CHANNELS.settle) as SettleEvent;
    expect(settle).toEqual({
      consumerTag: consumer.consumerTag,
      deliveryTag: deliver.message.fields.deliveryTag,
      kind: 'ack',
      requeue: false,
      sent: true,
    });
    await consumer.stop();
    await mq.disconnect();
    expect(of(connect.client, recorder.events).at(-1)).toEqual({
      name: CHANNELS.disconnect,
      data: { client: connect.client, error: undefined },
    });
  });

  it('a subscriber of warren:publish adds a header the consumer receives; the caller’s headers are left alone', async () => {
    const q = queueName('observe.header');
    const mq = await client({ queues: [{ name: q }] });
    const add = (data: unknown) => (data as PublishEvent).setHeader('x-added', 'yes');
    subscribe(CHANNELS.publish, add);
    const headers = { 'x-own': 1 };
    try {
      await mq.publishMessage(q, 'x', { headers });
    } finally {
      unsubscribe(CHANNELS.publish, add);
    }
    expect(headers).toEqual({ 'x-own': 1 });
    const got: unknown[] = [];
    const consumer = await mq.consume(q, (msg) => {
      got.push(msg.headers);
    });
    await waitFor(() => got.length === 1, 'the delivery');
    expect(got[0]).toEqual({ 'x-own': 1, 'x-added': 'yes' });
    await consumer.stop();
  });

  it('a failing handler: deliver:done carries the error, then retry, then dead-letter; returns are told apart', async () => {
    const q = queueName('observe.fail', [20]);
    recorder = record();
    const mq = await client({ queues: [{ name: q }] });
    const consumer = await mq.consume(
      q,
      () => {
        throw new Error('boom');
      },
      { retry: { attempts: 2, delayMs: 20 } },
    );
    consumer.on('error', () => {});
    await mq.publishMessage(q, 'bad');
    await waitFor(() => recorder!.events.some((e) => e.name === CHANNELS.deadLetter), 'the dead-letter event');
    const returned = await mq.publishMessage(`${q}.nowhere`, 'lost').catch((err: unknown) => err);
    expect(returned).toBeInstanceOf(UnroutableError);

    // Per message, its publish then its outcome; across messages confirms may come late (a persistent
    // message is confirmed once on disk, and its copy may be published before that).
    const publishes = recorder.events.filter((e) => e.name === CHANNELS.publish).map((e) => e.data as PublishEvent);
    expect(publishes.map((p) => [p.exchange, p.routingKey])).toEqual([
      ['', q], // 'bad'
      ['', `${q}.retry.20`], // the copy to the retry queue
      [`${q}.dead`, q], // the copy to the dead-letter target
      ['', `${q}.nowhere`], // the unroutable one
    ]);
    const outcomes = publishes.map((p) =>
      recorder!.events.filter((e) => e.data === p && e.name !== CHANNELS.publish).map((e) => e.name),
    );
    expect(outcomes).toEqual([
      [CHANNELS.publishConfirm],
      [CHANNELS.publishConfirm],
      [CHANNELS.publishConfirm],
      [CHANNELS.publishReturn],
    ]);
    for (const p of publishes) {
      const events = recorder.events.filter((e) => e.data === p);
      expect(events[0]!.name).toBe(CHANNELS.publish);
    }
    expect(chain(recorder.events, [...CONSUMING, CHANNELS.retry, CHANNELS.deadLetter])).toEqual([
      CHANNELS.deliver, // attempt 1
      CHANNELS.deliverDone,
      CHANNELS.retry,
      CHANNELS.settle, // acked once the retry copy is confirmed
      CHANNELS.deliver, // attempt 2
      CHANNELS.deliverDone,
      CHANNELS.deadLetter,
      CHANNELS.settle,
    ]);
    // The copies are published from the failure path: after the failure, before the original's ack.
    const all = recorder.events;
    const at = (name: string, n = 0) => all.filter((e) => e.name === name)[n]!;
    const index = (e: (typeof all)[number]) => all.indexOf(e);
    expect(index(at(CHANNELS.publish, 1))).toBeGreaterThan(index(at(CHANNELS.retry)));
    expect(index(at(CHANNELS.publish, 1))).toBeLessThan(index(at(CHANNELS.settle)));
    const done = recorder.events.filter((e) => e.name === CHANNELS.deliverDone).map((e) => e.data as DeliverEvent);
    expect(done.map((d) => [d.message.attempt, (d.error as Error).message])).toEqual([
      [1, 'boom'],
      [2, 'boom'],
    ]);
    const retry = recorder.events.find((e) => e.name === CHANNELS.retry)!.data as { queue: string; error: unknown };
    expect(retry.queue).toBe(q);
    expect(retry.error).toBeInstanceOf(HandlerError);
    expect(retry.error).toMatchObject({ attempt: 1, outcome: 'retry' });
    const ret = recorder.events.find((e) => e.name === CHANNELS.publishReturn)!.data as PublishEvent;
    expect(ret.error).toBe(returned);

    expect(mq.stats()).toMatchObject({
      published: 4,
      confirmed: 3,
      returned: 1,
      nacked: 0,
      publishFailed: 0,
      pendingPublishes: 0,
      deliveries: 2,
      processed: 0,
      failed: 2,
      retried: 1,
      deadLettered: 1,
      consumers: 1,
    });
    await consumer.stop();
    expect(mq.stats().consumers).toBe(0);
  });

  it('nothing is made for a channel nobody listens to: event objects only while a subscriber is on', async () => {
    const q = queueName('observe.cost');
    const mq = await client({ queues: [{ name: q }] });
    let delivered = 0;
    const consumer = await mq.consume(q, () => {
      delivered++;
    });
    // Every event object stamps its start with performance.now(); nothing else on warren's hot path does.
    const stamps = vi.spyOn(performance, 'now');
    const fromWarren = () => stamps.mock.calls.length;
    const round = async (n: number) => {
      const before = delivered;
      await Promise.all(Array.from({ length: n }, (_, i) => mq.publishMessage(q, `m${i}`)));
      await waitFor(() => delivered === before + n, `${n} deliveries`);
    };
    let counted = 0;
    const counter = () => {
      counted++;
    };
    try {
      await round(20);
      expect(fromWarren()).toBe(0);
      for (const name of Object.values(CHANNELS)) subscribe(name, counter);
      await round(20);
      const withSubscriber = fromWarren();
      // publish, confirm, deliver, deliver:done, settle: 5 events a message; 2 event objects (publish, deliver).
      expect(counted).toBe(20 * 5);
      expect(withSubscriber).toBeGreaterThanOrEqual(20 * 2);
      for (const name of Object.values(CHANNELS)) unsubscribe(name, counter);
      await round(20);
      expect(counted).toBe(20 * 5);
      expect(fromWarren()).toBe(withSubscriber);
    } finally {
      for (const name of Object.values(CHANNELS)) unsubscribe(name, counter);
      stamps.mockRestore();
    }
    await consumer.stop();
  });
});

describe('mq.stats()', () => {
  it('counts publishes, deliveries and consumers as plain totals', async () => {
    const q = queueName('observe.stats');
    const mq = await client({ queues: [{ name: q }] });
    expect(mq.stats()).toEqual({
      published: 0,
      confirmed: 0,
      nacked: 0,
      returned: 0,
      publishFailed: 0,
      pendingPublishes: 0,
      reconnects: 0,
      blockedMs: 0,
      blocked: false,
      deliveries: 0,
      processed: 0,
      failed: 0,
      retried: 0,
      deadLettered: 0,
      consumers: 0,
    });
    let n = 0;
    const consumer = await mq.consume(q, () => {
      n++;
    });
    await Promise.all(Array.from({ length: 10 }, () => mq.publishMessage(q, 'x')));
    await waitFor(() => n === 10, '10 deliveries');
    expect(mq.stats()).toMatchObject({ published: 10, confirmed: 10, deliveries: 10, processed: 10, consumers: 1 });
    await consumer.stop();
    await mq.disconnect();
    const closed = await mq.publishMessage(q, 'after').catch((err: unknown) => err);
    expect(closed).toBeInstanceOf(Error);
    expect(mq.stats()).toMatchObject({ published: 10, confirmed: 10, consumers: 0, pendingPublishes: 0 });
  });
});

describe('a handler error is never silent', () => {
  const failing = async (mq: Awaited<ReturnType<typeof client>>, q: string, n: number) => {
    let calls = 0;
    const consumer = await mq.consume(q, () => {
      calls++;
      throw new Error(`boom ${calls}`);
    });
    await Promise.all(Array.from({ length: n }, (_, i) => mq.publishMessage(q, `m${i}`)));
    await waitFor(() => calls === n && mq.stats().deadLettered === n, `${n} failures dead-lettered`);
    await consumer.stop();
  };

  it('with no error listener and no logger: one process warning per client, WARREN_HANDLER_ERROR', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const q = queueName('observe.warn');
      const mq = await client({ queues: [{ name: q }] });
      await failing(mq, q, 3);
      const ours = warn.mock.calls.filter(
        (c) => (c[1] as { code?: string } | undefined)?.code === HANDLER_ERROR_WARNING,
      );
      expect(ours).toHaveLength(1);
      expect(String(ours[0]![0])).toMatch(/^handler for queue ".*" failed on attempt 1 of 1 \(dead-letter\): boom 1/);
      expect(ours[0]![1]).toEqual({ type: 'WarrenWarning', code: 'WARREN_HANDLER_ERROR' });
      // A second client warns once too.
      const q2 = queueName('observe.warn2');
      const mq2 = await client({ queues: [{ name: q2 }] });
      await failing(mq2, q2, 2);
      expect(warn.mock.calls.filter((c) => (c[1] as { code?: string })?.code === HANDLER_ERROR_WARNING)).toHaveLength(
        2,
      );
    } finally {
      warn.mockRestore();
    }
  });

  it('no warning when someone hears it: an error listener, or a logger', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const q = queueName('observe.heard');
      const heard: unknown[] = [];
      const mq = await client({ queues: [{ name: q }] });
      mq.on('error', (err) => heard.push(err));
      await failing(mq, q, 2);
      expect(heard).toHaveLength(2);
      const q2 = queueName('observe.logged');
      const logged: unknown[] = [];
      const logger = { debug() {}, info() {}, warn() {}, error: (...args: unknown[]) => logged.push(args) };
      const mq2 = await client({ queues: [{ name: q2 }] }, { logger });
      await failing(mq2, q2, 2);
      expect(logged.length).toBeGreaterThanOrEqual(2);
      expect(warn.mock.calls.filter((c) => (c[1] as { code?: string })?.code === HANDLER_ERROR_WARNING)).toEqual([]);
    } finally {
      warn.mockRestore();
    }
  });
});
