/**
 * Which publish a basic.return belongs to. The broker sends a return before the ack of its own publish,
 * in publish order; it carries exchange, routing key, properties and body, but nothing that identifies
 * the publish (a user's messageId need not be unique).
 */
import { describe, expect, it } from 'vitest';
import { UnroutableError } from '../../../src/client/errors.js';
import { Publisher } from '../../../src/client/publisher.js';
import { FakeConfirmChannel, flush, message, track } from './publisher-fakes.js';

/** A publisher on a fresh channel, to which a publish to each of `exchanges` was already confirmed. */
function setup(...exchanges: string[]) {
  const p = new Publisher();
  const warm = new FakeConfirmChannel();
  p.attach(warm.asChannel());
  for (const exchange of exchanges) {
    p.publish(message('warm-up', { exchange }));
    warm.ackAll();
  }
  const ch = new FakeConfirmChannel();
  p.attach(ch.asChannel());
  return { p, ch };
}

describe('Publisher: basic.return attribution', () => {
  it('same messageId and routing key to two exchanges: the return names the exchange it belongs to', async () => {
    const { p, ch } = setup('orders', 'audit');
    const body = Buffer.from('same');
    const orders = track(p, message('dup', { exchange: 'orders', routingKey: 'rk', body }));
    const audit = track(p, message('dup', { exchange: 'audit', routingKey: 'rk', body }));
    ch.returnOf(ch.written[1]!, body);
    ch.ackAll();
    await flush();
    expect(orders.state).toBe('resolved');
    expect(audit.state).toBe('rejected');
    expect(audit.error).toBeInstanceOf(UnroutableError);
    expect((audit.error as UnroutableError).exchange).toBe('audit');
  });

  it('same exchange and routing key (a headers exchange): the returned body tells which publish came back', async () => {
    const { p, ch } = setup('hx');
    const routed = track(p, message('a', { exchange: 'hx', routingKey: '', body: Buffer.from('routed') }));
    const lost = track(p, message('a', { exchange: 'hx', routingKey: '', body: Buffer.from('nowhere') }));
    // The first is routed to a queue whose confirm is slow; the second comes back before either ack.
    ch.returnOf(ch.written[1]!, Buffer.from('nowhere'));
    ch.ack(2);
    ch.ack(1);
    await flush();
    expect(routed.state).toBe('resolved');
    expect(lost.error).toBeInstanceOf(UnroutableError);
  });

  it('identical messages: a return goes to the oldest one not yet confirmed or returned', async () => {
    const { p, ch } = setup();
    const body = Buffer.from('x');
    const ts = [0, 1, 2, 3].map(() => track(p, message('same', { body })));
    ch.ack(1); // confirmed before any return: not the returned one
    ch.returnOf(ch.written[1]!, body);
    ch.returnOf(ch.written[2]!, body);
    ch.ackAll();
    await flush();
    expect(ts.map((t) => t.state)).toEqual(['resolved', 'rejected', 'rejected', 'resolved']);
  });

  it('a return on a channel that was replaced is not charged to a message written again elsewhere', async () => {
    const p = new Publisher();
    const ch1 = new FakeConfirmChannel();
    p.attach(ch1.asChannel());
    const body = Buffer.from('m');
    const t = track(p, message('m', { body }));
    const lost = new Error('connection lost');
    ch1.close(lost);
    p.detach(lost);
    const ch2 = new FakeConfirmChannel();
    p.attach(ch2.asChannel());
    ch1.returnOf(ch1.written[0]!, body); // late, from the dead channel
    ch2.ackAll();
    await flush();
    expect(t.state).toBe('resolved');
  });
});

describe('Publisher: basic.return attribution among identical bodies', () => {
  it('same exchange, routing key and body, different messageIds: the returned messageId breaks the tie', async () => {
    const { p, ch } = setup('hx');
    const body = Buffer.from('same body, other headers');
    const routed = track(p, message('id-1', { exchange: 'hx', routingKey: '', body }));
    const lost = track(p, message('id-2', { exchange: 'hx', routingKey: '', body }));
    ch.returnOf(ch.written[1]!, body);
    ch.ackAll();
    await flush();
    expect(routed.state).toBe('resolved');
    expect(lost.error).toBeInstanceOf(UnroutableError);
  });
});
