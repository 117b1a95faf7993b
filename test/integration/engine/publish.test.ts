import { describe, expect, it } from 'vitest';
import type { ReturnedMessage } from '../../../src/connection/channel.js';
import { ChannelError } from '../../../src/protocol/errors.js';
import { uniqueName } from '../../helpers/broker.js';
import { engineSuite, nextEvent, settleAllWithin, waitFor } from './engine-helpers.js';

const suite = engineSuite();

describe('mandatory publishes', () => {
  it('an unroutable mandatory publish comes back as a return event (312 NO_ROUTE) and its confirm still resolves', async () => {
    const conn = await suite.open();
    const ch = await conn.createChannel();
    await ch.confirmSelect();
    const ex = uniqueName('pub.unroutable');
    suite.deleteExchangesAfter(ex);
    await ch.exchangeDeclare({ exchange: ex, type: 'direct' });
    const returns: ReturnedMessage[] = [];
    ch.on('return', (m) => returns.push(m));
    let returnedBeforeAck = false;
    const publish = ch
      .basicPublish({ exchange: ex, routingKey: 'nowhere', mandatory: true }, 'bounce', {
        messageId: 'm-1',
        headers: { attempt: 1 },
      })
      .then(() => {
        returnedBeforeAck = returns.length === 1;
      });
    await expect(publish).resolves.toBeUndefined();
    expect(returnedBeforeAck).toBe(true);
    expect(returns).toHaveLength(1);
    const r = returns[0]!;
    expect(r.replyCode).toBe(312);
    expect(r.replyText).toBe('NO_ROUTE');
    expect(r.exchange).toBe(ex);
    expect(r.routingKey).toBe('nowhere');
    expect(r.body.toString()).toBe('bounce');
    expect(r.properties).toEqual({ messageId: 'm-1', headers: { attempt: 1 } });
    expect(ch.unconfirmed).toBe(0);
  });

  it('without confirm mode an unroutable mandatory publish is still returned; a non-mandatory one is dropped', async () => {
    const conn = await suite.open();
    const ch = await conn.createChannel();
    const returns: ReturnedMessage[] = [];
    ch.on('return', (m) => returns.push(m));
    await ch.basicPublish({ routingKey: uniqueName('pub.none'), mandatory: false }, 'dropped');
    const nowhere = uniqueName('pub.nowhere');
    await ch.basicPublish({ routingKey: nowhere, mandatory: true }, 'returned');
    await waitFor(() => returns.length >= 1, 'a basic.return');
    // A round trip on the channel: anything the broker would return has arrived by now.
    await ch.queueDeclare({ queue: '', exclusive: true });
    expect(returns.map((r) => r.body.toString())).toEqual(['returned']);
    expect(returns[0]!.exchange).toBe('');
    expect(returns[0]!.routingKey).toBe(nowhere);
  });
});

describe('publisher confirms', () => {
  it('publishes 5000 messages with at most 500 outstanding; all resolve and unconfirmed drops to 0', async () => {
    const conn = await suite.open();
    const ch = await conn.createChannel();
    expect(ch.confirmMode).toBe(false);
    await ch.confirmSelect();
    await ch.confirmSelect(); // idempotent
    expect(ch.confirmMode).toBe(true);
    const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
    const total = 5000;
    const window = 500;
    const inFlight = new Set<Promise<void>>();
    let maxUnconfirmed = 0;
    let resolved = 0;
    for (let i = 0; i < total; i++) {
      while (inFlight.size >= window) await Promise.race(inFlight);
      const p: Promise<void> = ch.basicPublish({ routingKey: queue }, `message ${i}`).then(() => {
        resolved++;
        inFlight.delete(p);
      });
      inFlight.add(p);
      maxUnconfirmed = Math.max(maxUnconfirmed, ch.unconfirmed);
    }
    await Promise.all(inFlight);
    expect(resolved).toBe(total);
    expect(maxUnconfirmed).toBeLessThanOrEqual(window);
    expect(maxUnconfirmed).toBeGreaterThan(1);
    expect(ch.unconfirmed).toBe(0);
    expect(await ch.queueDeclare({ queue, passive: true })).toMatchObject({ messageCount: total });
    const first = await ch.basicGet({ queue, noAck: true });
    expect(first?.body.toString()).toBe('message 0');
    expect(first?.messageCount).toBe(total - 1);
  });

  it('closing the channel with publishes outstanding settles every one of them: none left pending', async () => {
    const conn = await suite.open();
    const ch = await conn.createChannel();
    await ch.confirmSelect();
    const queue = uniqueName('pub.close-outstanding');
    suite.deleteQueuesAfter(queue);
    await ch.queueDeclare({ queue, durable: true });
    const publishes = Array.from({ length: 300 }, (_v, i) => ch.basicPublish({ routingKey: queue }, `m${i}`));
    expect(ch.unconfirmed).toBe(300);
    const settled = settleAllWithin(publishes, 5000);
    const closing = ch.close();
    const outcomes = await settled;
    await closing;
    expect(outcomes.filter((o) => o.status === 'pending')).toHaveLength(0);
    const rejected = outcomes.filter((o) => o.status === 'rejected');
    for (const o of rejected) {
      if (o.status !== 'rejected') continue;
      expect(o.reason).toBeInstanceOf(ChannelError);
      expect((o.reason as ChannelError).code).toBe('ERR_CHANNEL_CLOSED');
    }
    expect(ch.unconfirmed).toBe(0);
    // channel.close was sent in the same tick as the publishes, and warren drops every frame but
    // close-ok after sending it, so all of them are reported unconfirmed...
    expect(rejected).toHaveLength(300);
    // ...although the broker did take every one: a rejected publish means "not known to be stored".
    const check = await conn.createChannel();
    expect(await check.queueDeclare({ queue, passive: true })).toMatchObject({ messageCount: 300 });
  });

  it('when the broker closes the channel, outstanding publishes are rejected with its ChannelError', async () => {
    const conn = await suite.open();
    const ch = await conn.createChannel();
    await ch.confirmSelect();
    const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
    const good = Array.from({ length: 20 }, (_v, i) => ch.basicPublish({ routingKey: queue }, `ok ${i}`));
    const bad = ch.basicPublish({ exchange: uniqueName('pub.missing'), routingKey: queue }, 'bad');
    const after = Array.from({ length: 20 }, (_v, i) => ch.basicPublish({ routingKey: queue }, `after ${i}`));
    const outcomes = await settleAllWithin([...good, bad, ...after], 5000);
    expect(outcomes).toHaveLength(41);
    expect(outcomes.filter((o) => o.status === 'pending')).toHaveLength(0);
    const badOutcome = outcomes[20]!;
    expect(badOutcome.status).toBe('rejected');
    if (badOutcome.status === 'rejected') {
      expect(badOutcome.reason).toBeInstanceOf(ChannelError);
      expect((badOutcome.reason as ChannelError).replyCode).toBe(404);
      expect((badOutcome.reason as ChannelError).methodName).toBe('basic.publish');
    }
    // The broker discards what follows the failed publish: those can only be rejected.
    for (const o of outcomes.slice(21)) {
      expect(o.status).toBe('rejected');
      if (o.status === 'rejected') expect((o.reason as ChannelError).replyCode).toBe(404);
    }
    expect(ch.state).toBe('closed');
    expect(ch.unconfirmed).toBe(0);
    expect(conn.isOpen).toBe(true);
  });

  it('without confirm mode basicPublish resolves once written', async () => {
    const conn = await suite.open();
    const ch = await conn.createChannel();
    const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
    await Promise.all(Array.from({ length: 100 }, (_v, i) => ch.basicPublish({ routingKey: queue }, `m${i}`)));
    expect(ch.unconfirmed).toBe(0);
    let count = 0;
    for (let i = 0; i < 50 && count < 100; i++) {
      count = (await ch.queueDeclare({ queue, passive: true })).messageCount;
      if (count < 100) await new Promise((r) => setTimeout(r, 20));
    }
    expect(count).toBe(100);
  });
});

describe('transactions', () => {
  it('a rolled-back publish is not delivered, a committed one is', async () => {
    const conn = await suite.open();
    const ch = await conn.createChannel();
    const observer = await conn.createChannel();
    const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
    await ch.txSelect();
    await ch.basicPublish({ routingKey: queue }, 'rolled back');
    // Not visible before the transaction ends.
    expect(await observer.basicGet({ queue, noAck: true })).toBeNull();
    await ch.txRollback();
    expect(await observer.basicGet({ queue, noAck: true })).toBeNull();
    await ch.basicPublish({ routingKey: queue }, 'committed');
    expect(await observer.basicGet({ queue, noAck: true })).toBeNull();
    await ch.txCommit();
    const got = await observer.basicGet({ queue, noAck: true });
    expect(got?.body.toString()).toBe('committed');
    expect(got?.messageCount).toBe(0);
    expect(await observer.basicGet({ queue, noAck: true })).toBeNull();
  });

  it('acks inside a transaction take effect on commit only', async () => {
    const conn = await suite.open();
    const ch = await conn.createChannel();
    const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
    await ch.basicPublish({ routingKey: queue }, 'a');
    await ch.txSelect();
    const got = await ch.basicGet({ queue });
    expect(got).not.toBeNull();
    expect(ch.basicAck(got!.deliveryTag)).toBe(true);
    await ch.txRollback();
    // The rolled-back ack is forgotten: recover makes the message available again.
    await ch.basicRecover({ requeue: true });
    const again = await ch.basicGet({ queue });
    expect(again?.body.toString()).toBe('a');
    expect(again?.redelivered).toBe(true);
    ch.basicAck(again!.deliveryTag);
    await ch.txCommit();
    expect((await ch.queueDeclare({ queue, passive: true })).messageCount).toBe(0);
    await ch.basicRecover({ requeue: true });
    expect(await ch.basicGet({ queue })).toBeNull();
  });

  it('txCommit without txSelect is a channel error (406 PRECONDITION_FAILED)', async () => {
    const conn = await suite.open();
    const ch = await conn.createChannel();
    const closed = nextEvent<[unknown]>(ch, 'close');
    const err = await ch.txCommit().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChannelError);
    expect((err as ChannelError).replyCode).toBe(406);
    expect((err as ChannelError).methodName).toBe('tx.commit');
    await closed;
    expect(conn.isOpen).toBe(true);
  });
});
