/**
 * The stream consumer's position without a broker: option checks, where the next subscription starts,
 * duplicates skipped, a delivery held while the same offset still runs from an earlier subscription, and
 * the client-side filter re-check.
 */
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../src/client/config.js';
import type { Entry } from '../../../src/client/consume/delivery.js';
import { atDeliveryLimit, resolveDeliveryLimit } from '../../../src/client/consume/delivery-limit.js';
import { resolveStreamOptions, StreamCursor } from '../../../src/client/consume/stream.js';
import { ConsumerOptionsError } from '../../../src/client/consumer.js';
import type { Channel, Delivery } from '../../../src/connection/channel.js';

const channel = { isOpen: true } as unknown as Channel;
function entry(offset: number, headers: Record<string, unknown> = {}): Entry {
  const delivery = {
    deliveryTag: offset + 1,
    properties: { headers: { 'x-stream-offset': BigInt(offset), ...headers } },
  } as unknown as Delivery;
  return { channel, delivery, settled: false };
}
const cursor = (offset: 'first' | number = 'first', extra = {}) =>
  new StreamCursor({ offset, filter: undefined, matchUnfiltered: false, ...extra }, {}, 10);

describe('stream options', () => {
  it('require an explicit prefetch and a valid offset and filter', () => {
    expect(() => resolveStreamOptions('s', { offset: 'first' }, false)).toThrow(ConsumerOptionsError);
    expect(() => resolveStreamOptions('s', {}, true)).toThrow(/options\.prefetch is required/);
    expect(() => resolveStreamOptions('s', { offset: -1, prefetch: 1 }, false)).toThrow(/options\.offset/);
    expect(() => resolveStreamOptions('s', { offset: new Date(Number.NaN), prefetch: 1 }, false)).toThrow(
      /options\.offset/,
    );
    expect(() => resolveStreamOptions('s', { filter: [], prefetch: 1 }, false)).toThrow(/options\.filter/);
    expect(() => resolveStreamOptions('s', { matchUnfiltered: true, prefetch: 1 }, true)).toThrow(/matchUnfiltered/);
    expect(() =>
      resolveStreamOptions('s', { offset: 1, arguments: { 'x-stream-offset': 'first' }, prefetch: 1 }, false),
    ).toThrow(/only options\.offset/);
    expect(resolveStreamOptions('q', { prefetch: 1 }, false)).toBeUndefined();
    expect(resolveStreamOptions('s', { prefetch: 5 }, true)).toEqual({
      offset: 'next',
      filter: undefined,
      matchUnfiltered: false,
    });
  });
});

describe('StreamCursor', () => {
  it('starts at the configured offset, then resumes after the highest finished offset', () => {
    const c = cursor('first');
    expect(c.arguments()['x-stream-offset']).toBe('first');
    for (let i = 0; i < 3; i++) {
      const e = entry(i);
      expect(c.admit(e)).toBe('run');
      expect(c.settled(e, 'ack', false).wire).toBe('ack');
    }
    expect(c.arguments()['x-stream-offset']).toBe(3n);
    // Read again after the resubscription: skipped, never handled twice.
    expect(c.admit(entry(2))).toBe('skip');
    expect(c.admit(entry(3))).toBe('run');
  });

  it('with handlers still running, resumes at the lowest unfinished offset and skips the finished ones above it', () => {
    const c = cursor(0);
    const es = [0, 1, 2, 3].map((i) => entry(i));
    for (const e of es) expect(c.admit(e)).toBe('run');
    c.settled(es[0]!, 'ack', false);
    c.settled(es[2]!, 'ack', false);
    expect(c.resumeOffset()).toBe(1n);
    expect(c.admit(entry(2))).toBe('skip');
    // Offset 1 is still running from the old subscription: its new copy is held until that one ends.
    const again1 = entry(1);
    expect(c.admit(again1)).toBe('held');
    expect(c.settled(es[1]!, 'drop', false)).toMatchObject({ wire: 'drop', held: again1, heldAs: 'run' });
    expect(c.settled(again1, 'ack', false)).toEqual({ wire: 'ack' });
    expect(c.resumeOffset()).toBe(3n);
  });

  it('a nack or reject goes on the wire as an ack; a requeue leaves the offset to be read again', () => {
    const c = cursor(0);
    const a = entry(0);
    const b = entry(1);
    c.admit(a);
    c.admit(b);
    expect(c.settled(a, 'nack', true).wire).toBe('ack');
    expect(c.settled(b, 'reject', false).wire).toBe('ack');
    expect(c.resumeOffset()).toBe(0n);
    expect(c.admit(entry(0))).toBe('run');
    expect(c.admit(entry(1))).toBe('skip');
  });

  it('re-checks the filter: a non-matching value is skipped and counts as finished', () => {
    const c = cursor('first', { filter: ['eu'] });
    expect(c.arguments()).toMatchObject({ 'x-stream-filter': 'eu' });
    expect(c.admit(entry(0, { 'x-stream-filter-value': 'us' }))).toBe('skip');
    expect(c.admit(entry(1))).toBe('skip');
    expect(c.admit(entry(2, { 'x-stream-filter-value': 'eu' }))).toBe('run');
    const u = cursor('first', { filter: ['eu'], matchUnfiltered: true });
    expect(u.arguments()).toMatchObject({ 'x-stream-match-unfiltered': true });
    expect(u.admit(entry(1))).toBe('run');
  });
});

describe('delivery limit', () => {
  const config = validateConfig({
    queues: [
      { name: 'q3', arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 3 } },
      { name: 'qd', arguments: { 'x-queue-type': 'quorum' } },
      { name: 'qoff', arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': -1 } },
      { name: 'classic' },
    ],
  });
  it('comes from the option, the topology, or 20 on a 4.x quorum queue', () => {
    expect(resolveDeliveryLimit(config, 'q3', 3, undefined)).toEqual({ limit: 3 });
    expect(resolveDeliveryLimit(config, 'qd', 4, undefined)).toEqual({ limit: 20 });
    expect(resolveDeliveryLimit(config, 'qd', 3, undefined)).toBeUndefined();
    expect(resolveDeliveryLimit(config, 'qoff', 4, undefined)).toBeUndefined();
    expect(resolveDeliveryLimit(config, 'classic', 4, undefined)).toBeUndefined();
    expect(resolveDeliveryLimit(config, 'elsewhere', 4, undefined)).toEqual({ limit: 'quorum-default' });
    expect(resolveDeliveryLimit(config, 'q3', 4, false)).toBeUndefined();
    expect(resolveDeliveryLimit(config, 'classic', 4, 7)).toEqual({ limit: 7 });
  });
  it('is reached at the limit minus one, never on a first delivery', () => {
    const h = (n: number) => ({ 'x-delivery-count': BigInt(n) });
    expect(atDeliveryLimit({ limit: 3 }, h(1))).toBeUndefined();
    expect(atDeliveryLimit({ limit: 3 }, h(2))).toEqual({ count: 2, limit: 3 });
    expect(atDeliveryLimit({ limit: 0 }, undefined)).toBeUndefined();
    expect(atDeliveryLimit({ limit: 1 }, h(1))).toEqual({ count: 1, limit: 1 });
    expect(atDeliveryLimit({ limit: 'quorum-default' }, h(19))).toEqual({ count: 19, limit: 20 });
    expect(atDeliveryLimit(undefined, h(100))).toBeUndefined();
  });
});
