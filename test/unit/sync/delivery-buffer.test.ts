import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Delivery } from '../../../src/connection/channel.js';
import { DeliveryBuffer } from '../../../src/sync/delivery-buffer.js';

const delivery = (deliveryTag: number): Delivery => ({
  consumerTag: 'c',
  deliveryTag,
  redelivered: false,
  exchange: '',
  routingKey: 'q',
  properties: {},
  body: Buffer.from(String(deliveryTag)),
});

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('DeliveryBuffer', () => {
  it('hands out buffered deliveries in order, and a waiting pull gets the next arrival', async () => {
    const b = new DeliveryBuffer();
    b.push(delivery(1));
    b.push(delivery(2));
    expect((await b.pull(100))!.deliveryTag).toBe(1);
    expect((await b.pull(100))!.deliveryTag).toBe(2);
    const waiting = b.pull(1000);
    b.push(delivery(3));
    expect((await waiting)!.deliveryTag).toBe(3);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a pull resolves null when nothing arrives in time', async () => {
    const b = new DeliveryBuffer();
    const waiting = b.pull(250);
    vi.advanceTimersByTime(250);
    expect(await waiting).toBeNull();
    b.push(delivery(1)); // arrives later: buffered for the next pull
    expect((await b.pull(10))!.deliveryTag).toBe(1);
  });

  it('once ended, hands out what it holds, then rejects; a waiting pull rejects at once', async () => {
    const b = new DeliveryBuffer();
    const waiting = b.pull(1000);
    const cancelled = new Error('cancelled');
    b.end(cancelled);
    await expect(waiting).rejects.toBe(cancelled);
    expect(vi.getTimerCount()).toBe(0);

    const c = new DeliveryBuffer();
    c.push(delivery(7));
    c.end(cancelled);
    expect((await c.pull(10))!.deliveryTag).toBe(7);
    await expect(c.pull(10)).rejects.toBe(cancelled);
  });

  it('drain takes what was never pulled', async () => {
    const b = new DeliveryBuffer();
    for (let t = 1; t <= 3; t++) b.push(delivery(t));
    await b.pull(10);
    expect(b.drain().map((d) => d.deliveryTag)).toEqual([2, 3]);
    expect(b.drain()).toEqual([]);
  });
});
