import { describe, expect, it } from 'vitest';
import { AckCoalescer } from '../../../src/connection/ack-coalescer.js';

describe('AckCoalescer', () => {
  it('turns a run of in-order acks into one multiple ack for the last tag', () => {
    const c = new AckCoalescer();
    for (let t = 1; t <= 5; t++) expect(c.absorb(t)).toBe(true);
    expect(c.take()).toEqual({ tag: 5, multiple: true });
    expect(c.take()).toBeNull();
  });

  it('a run of one stays a single ack', () => {
    const c = new AckCoalescer();
    expect(c.absorb(1)).toBe(true);
    expect(c.take()).toEqual({ tag: 1, multiple: false });
  });

  it('refuses an ack above a tag still unsettled, then coalesces once the gap is settled', () => {
    const c = new AckCoalescer();
    expect(c.absorb(2)).toBe(false); // 1 is outstanding: a multiple ack for 2 would ack it too
    c.settled(2, false);
    expect(c.absorb(1)).toBe(true); // floor moves over 2, which was acked directly
    // The owed ack names 1, not 2: RabbitMQ refuses a multiple ack whose own tag is already settled.
    expect(c.take()).toEqual({ tag: 1, multiple: false });
    expect(c.absorb(3)).toBe(true);
    expect(c.take()).toEqual({ tag: 3, multiple: false });
  });

  it('nacks and rejects written directly move the floor like acks', () => {
    const c = new AckCoalescer();
    c.settled(1, false); // a reject
    expect(c.absorb(2)).toBe(true);
    c.settled(5, true); // a multiple nack covering 3..5
    expect(c.absorb(6)).toBe(true);
    expect(c.take()).toEqual({ tag: 6, multiple: true });
  });

  it('is off for good once disabled (no-ack consumer, get or recover)', () => {
    const c = new AckCoalescer();
    c.disable();
    expect(c.absorb(1)).toBe(false);
    expect(c.take()).toBeNull();
  });

  it('stops remembering out-of-order settlements past its limit instead of growing', () => {
    const c = new AckCoalescer();
    for (let t = 2; t <= 10_001; t++) c.settled(t, false);
    c.settled(10_002, false); // one more than it remembers: coalescing turns off
    expect(c.absorb(1)).toBe(false);
  });

  it('reset forgets the ack owed (its channel closed)', () => {
    const c = new AckCoalescer();
    c.absorb(1);
    c.reset();
    expect(c.take()).toBeNull();
  });
});
