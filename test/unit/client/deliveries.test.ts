import { describe, expect, it } from 'vitest';
import { Deliveries } from '../../../src/client/consume/deliveries.js';
import type { Entry } from '../../../src/client/consume/delivery.js';
import type { Channel } from '../../../src/connection/channel.js';

const channel = {
  isOpen: true,
  basicAck: () => true,
  basicNack: () => true,
  basicReject: () => true,
} as unknown as Channel;

function entry(tag: number): Entry {
  return {
    channel,
    delivery: {
      consumerTag: 'c',
      deliveryTag: tag,
      redelivered: false,
      exchange: '',
      routingKey: 'q',
      properties: {},
      body: Buffer.alloc(0),
    },
    settled: false,
  };
}

describe('Deliveries', () => {
  it('a backlog that never drains (deliveries always held for the one handler) keeps its array bounded', async () => {
    const finishers: (() => void)[] = [];
    const d = new Deliveries(
      1,
      () => new Promise<void>((resolve) => finishers.push(resolve)),
      (err) => {
        throw err;
      },
      () => false,
    );
    let tag = 0;
    for (let i = 0; i < 20; i++) d.arrive(entry(++tag), true);
    let most = 0;
    for (let i = 0; i < 100_000; i++) {
      finishers.shift()!();
      await Promise.resolve();
      d.arrive(entry(++tag), true); // one more arrives for each one handled: 19 always held
      most = Math.max(most, d.retainedWaiting);
    }
    expect(d.active).toBe(1);
    expect(most, `the held deliveries' array grew to ${most} slots for 19 held`).toBeLessThanOrEqual(2 * 20 + 1024);
  });
});
