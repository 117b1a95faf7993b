/**
 * basic.return attribution against the real broker: a returned message fails its own publish, never a
 * routed one that happens to share its messageId, routing key or exchange.
 */
import { describe, expect, it } from 'vitest';
import { UnroutableError } from '../../../src/client/errors.js';
import { uniqueName } from '../../helpers/broker.js';
import { clientSuite, getAll, rejectionOf } from './client-helpers.js';

const suite = clientSuite();

describe('publishMessage: returns', () => {
  it('same messageId and routing key to a routed and an unbound exchange: only the unbound one rejects', async () => {
    const orders = uniqueName('ret.orders');
    const audit = uniqueName('ret.audit');
    const queue = uniqueName('ret.q');
    suite.deleteQueuesAfter(queue);
    suite.deleteExchangesAfter(orders, audit);
    const mq = suite.client({
      exchanges: [
        { name: orders, type: 'direct', durable: false },
        { name: audit, type: 'direct', durable: false },
      ],
      queues: [{ name: queue, durable: true, exchange: orders, routingKey: 'order.created' }],
    });
    await mq.connect();
    for (let round = 0; round < 20; round++) {
      const id = `order-${round}`;
      const [toOrders, toAudit] = await Promise.allSettled([
        mq.publishMessage('order.created', { round }, { exchange: orders, messageId: id }),
        mq.publishMessage('order.created', { round }, { exchange: audit, messageId: id }),
      ]);
      expect(toOrders.status, `round ${round}: the routed publish`).toBe('fulfilled');
      expect(toAudit.status, `round ${round}: the unbound publish`).toBe('rejected');
      const err = (toAudit as PromiseRejectedResult).reason as UnroutableError;
      expect(err).toBeInstanceOf(UnroutableError);
      expect(err.exchange).toBe(audit);
      expect(err.replyCode).toBe(312);
    }
    expect((await getAll(await mq.getChannel(), queue)).length).toBe(20);
    expect(mq.pendingPublishes).toBe(0);
  });

  it('same exchange, routing key and messageId (a headers exchange): the one that matched no binding rejects', async () => {
    const hx = uniqueName('ret.hx');
    const queue = uniqueName('ret.hq');
    suite.deleteQueuesAfter(queue);
    suite.deleteExchangesAfter(hx);
    const mq = suite.client({
      exchanges: [{ name: hx, type: 'headers', durable: false }],
      queues: [{ name: queue, durable: true }],
      bindings: [{ source: hx, destination: queue, arguments: { 'x-match': 'all', kind: 'invoice' } }],
    });
    await mq.connect();
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        mq.publishMessage('', `body-${i}`, {
          exchange: hx,
          messageId: 'same',
          headers: { kind: i % 2 === 0 ? 'invoice' : 'other' },
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(
      Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? 'fulfilled' : 'rejected')),
    );
    const got = (await getAll(await mq.getChannel(), queue)).map((m) => m.body.toString()).sort();
    expect(got).toEqual(Array.from({ length: 25 }, (_, i) => `body-${2 * i}`).sort());
    expect(await rejectionOf(mq.publishMessage('', 'x', { exchange: hx }))).toBeInstanceOf(UnroutableError);
  });

  it('same exchange, routing key and body (a headers exchange), messageIds left to the client: only the unmatched ones reject', async () => {
    const hx = uniqueName('ret.hx-same');
    const queue = uniqueName('ret.hq-same');
    suite.deleteQueuesAfter(queue);
    suite.deleteExchangesAfter(hx);
    const mq = suite.client({
      exchanges: [{ name: hx, type: 'headers', durable: false }],
      queues: [{ name: queue, durable: true }],
      bindings: [{ source: hx, destination: queue, arguments: { 'x-match': 'all', kind: 'invoice' } }],
    });
    await mq.connect();
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        mq.publishMessage('', 'the same body', { exchange: hx, headers: { kind: i % 3 === 0 ? 'invoice' : 'other' } }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(
      Array.from({ length: 50 }, (_, i) => (i % 3 === 0 ? 'fulfilled' : 'rejected')),
    );
    expect((await getAll(await mq.getChannel(), queue)).length).toBe(17);
  });
});
