/**
 * The observe module on its own: what a subscriber may do during an event (add headers, bind a context)
 * and not after, wrappers nesting in subscription order, and the handler called directly (its own
 * promise returned, nothing wrapped) while nobody subscribes.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import type { ConsumeMessage } from '../../../src/client/consume/message.js';
import { observeHandler } from '../../../src/client/observe/consume.js';
import { CHANNELS, type DeliverEvent, type PublishEvent } from '../../../src/client/observe/index.js';
import { observePublish, publishObserved } from '../../../src/client/observe/publish.js';
import { ClientCounters } from '../../../src/client/observe/stats.js';
import type { OutgoingMessage } from '../../../src/client/publish/entry.js';
import type { EventSink } from '../../../src/client/session/types.js';

const sink: EventSink = { emit: () => false, listenerCount: () => 0 };
const message = (headers?: Record<string, string>): OutgoingMessage => ({
  exchange: 'x',
  routingKey: 'rk',
  mandatory: true,
  body: Buffer.from('abc'),
  properties: { messageId: 'id-1', headers },
});

function during<T>(name: string, fn: (data: T) => void, body: () => Promise<unknown>): Promise<unknown> {
  const sub = (data: unknown) => fn(data as T);
  subscribe(name, sub);
  return body().finally(() => unsubscribe(name, sub));
}

describe('PublishEvent', () => {
  it('setHeader during warren:publish puts the header on a copy of the headers, and throws afterwards', async () => {
    const own = { 'x-own': 'a' };
    const m = message(own);
    let event: PublishEvent | undefined;
    let handed: OutgoingMessage | undefined;
    await during<PublishEvent>(
      CHANNELS.publish,
      (e) => {
        event = e;
        e.setHeader('traceparent', 'tp');
        e.setHeader('tracestate', 'ts');
      },
      () =>
        observePublish(sink, m, (o) => {
          handed = o;
          return Promise.resolve();
        }),
    );
    expect(handed?.properties.headers).toEqual({ 'x-own': 'a', traceparent: 'tp', tracestate: 'ts' });
    expect(own).toEqual({ 'x-own': 'a' });
    expect(() => event!.setHeader('late', 'no')).toThrow(TypeError);
    expect(event).toMatchObject({ exchange: 'x', routingKey: 'rk', bodySize: 3, error: undefined });
  });

  it('the outcome goes to the channel that names it, with the error and the duration', async () => {
    const failure = new Error('refused');
    const seen: Array<[string, unknown]> = [];
    const subs = [CHANNELS.publishConfirm, CHANNELS.publishError].map((name) => {
      const fn = (d: unknown) => seen.push([name, (d as PublishEvent).error]);
      subscribe(name, fn);
      return () => unsubscribe(name, fn);
    });
    try {
      expect(publishObserved()).toBe(true);
      await observePublish(sink, message(), () => Promise.resolve());
      await expect(observePublish(sink, message(), () => Promise.reject(failure))).rejects.toBe(failure);
      await Promise.resolve();
    } finally {
      for (const off of subs) off();
    }
    expect(seen).toEqual([
      [CHANNELS.publishConfirm, undefined],
      [CHANNELS.publishError, failure],
    ]);
    expect(publishObserved()).toBe(false);
  });
});

describe('DeliverEvent', () => {
  const msg = { body: Buffer.from('b'), headers: {} } as unknown as ConsumeMessage<Buffer>;

  it('nobody subscribed: the handler is called directly and its own result returned', () => {
    const result = Promise.resolve('mine');
    const wrapped = observeHandler(new ClientCounters(), { queue: 'q' }, () => result);
    expect(wrapped(msg)).toBe(result);
  });

  it('bound wrappers nest in subscription order around the handler; bind() after the event throws', async () => {
    const order: string[] = [];
    let event: DeliverEvent | undefined;
    const first = (e: unknown) => {
      event = e as DeliverEvent;
      event.bind((fn) => {
        order.push('first in');
        const r = fn();
        order.push('first out');
        return r;
      });
    };
    const second = (e: unknown) =>
      (e as DeliverEvent).bind((fn) => {
        order.push('second in');
        const r = fn();
        order.push('second out');
        return r;
      });
    subscribe(CHANNELS.deliver, first);
    subscribe(CHANNELS.deliver, second);
    try {
      const wrapped = observeHandler(new ClientCounters(), { queue: 'q' }, () => {
        order.push('handler');
        throw new Error('sync throw');
      });
      await expect(wrapped(msg)).rejects.toThrow('sync throw');
    } finally {
      unsubscribe(CHANNELS.deliver, first);
      unsubscribe(CHANNELS.deliver, second);
    }
    expect(order).toEqual(['first in', 'second in', 'handler']);
    expect((event!.error as Error).message).toBe('sync throw');
    expect(event!.queue).toBe('q');
    expect(() => event!.bind((fn) => fn())).toThrow(TypeError);
  });
});
