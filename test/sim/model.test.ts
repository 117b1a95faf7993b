/**
 * The broker model is only as good as its fidelity to RabbitMQ: these pin the semantics the invariants rely
 * on (routing, unknown-tag 406, return before ack, requeue on channel close), driven through warren's
 * engine API.
 */
import { describe, expect, it } from 'vitest';
import { type Channel, type Connection, connect, type Delivery } from '../../src/engine.js';
import { trackUnhandledRejections } from '../helpers/guards.js';
import { NO_FAULTS } from './faults.js';
import { BrokerModel } from './model.js';
import { topicMatches } from './routing.js';
import { Clock, Ledger } from './state.js';
import { Trace } from './trace.js';

trackUnhandledRejections();

async function withModel(fn: (conn: Connection, ledger: Ledger) => Promise<void>): Promise<void> {
  const ledger = new Ledger();
  const model = new BrokerModel({
    seed: 1,
    rates: NO_FAULTS,
    trace: new Trace(),
    clock: new Clock(),
    ledger,
    client: { decision: () => ({ kind: 'ack', requeue: false, seq: 0 }), disconnecting: () => false },
  });
  const port = await model.start();
  const conn = await connect({ hostname: '127.0.0.1', port, heartbeat: 0 });
  try {
    await fn(conn, ledger);
  } finally {
    await conn.close();
    await model.close();
  }
}

function nextDelivery(ch: Channel, queue: string): Promise<Delivery> {
  return new Promise((resolve) => {
    void ch.basicConsume({ queue }, resolve);
  });
}

describe('broker model', () => {
  it('routes topic keys as RabbitMQ does', () => {
    expect(topicMatches('a.*', 'a.b')).toBe(true);
    expect(topicMatches('a.*', 'a.b.c')).toBe(false);
    expect(topicMatches('a.#', 'a')).toBe(true);
    expect(topicMatches('#.c', 'a.b.c')).toBe(true);
    expect(topicMatches('*.b.#', 'x.b')).toBe(true);
    expect(topicMatches('a.*.c', 'a.c')).toBe(false);
  });

  it('closes the channel with 406 on an ack of an unknown delivery tag', async () => {
    await withModel(async (conn, ledger) => {
      const ch = await conn.createChannel();
      const closed = new Promise<unknown>((r) => ch.once('close', r));
      ch.basicAck(99);
      const err = (await closed) as { replyCode?: number };
      expect(err.replyCode).toBe(406);
      expect(ledger.violations.map((v) => v.invariant)).toEqual(['ack-unknown-tag']);
    });
  });

  it('returns an unroutable mandatory message before acking it, and records it as not accepted', async () => {
    await withModel(async (conn, ledger) => {
      const ch = await conn.createChannel();
      await ch.confirmSelect();
      const returned = new Promise<unknown>((r) => ch.once('return', r));
      await ch.basicPublish({ exchange: '', routingKey: 'nowhere', mandatory: true }, 'x', {
        headers: { 'x-sim-pub': 'p1' },
      });
      await returned;
      expect(ledger.publishes.get('p1')).toMatchObject({ received: 1, returned: 1, accepted: 0 });
    });
  });

  it('requeues what was unacked on a closed channel, redelivered', async () => {
    await withModel(async (conn) => {
      const setup = await conn.createChannel();
      await setup.queueDeclare({ queue: 'm.q', durable: true });
      await setup.basicPublish({ exchange: '', routingKey: 'm.q' }, 'hello');
      const first = await conn.createChannel();
      const d1 = await nextDelivery(first, 'm.q');
      expect(d1.redelivered).toBe(false);
      await first.close();
      const second = await conn.createChannel();
      const d2 = await nextDelivery(second, 'm.q');
      expect({ redelivered: d2.redelivered, body: d2.body.toString() }).toEqual({ redelivered: true, body: 'hello' });
    });
  });
});
