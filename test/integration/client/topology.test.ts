/**
 * AsyncRabbitMQ declares the topology of its config on connect (real broker): every exchange type,
 * queue arguments, queue-to-exchange and exchange-to-exchange bindings; routing is checked by
 * publishing through the client and reading back with basic.get on getChannel().
 */
import { describe, expect, it } from 'vitest';
import type { RabbitMQConfig } from '../../../src/client/config.js';
import { ConfigValidationError, ExchangeType } from '../../../src/client/config.js';
import { ClientClosedError, UnroutableError } from '../../../src/client/errors.js';
import { connect } from '../../../src/connection/connect.js';
import { ChannelError } from '../../../src/protocol/errors.js';
import { brokerUrl, uniqueName } from '../../helpers/broker.js';
import { clientSuite, getAll, messageCount, rejectionOf } from './client-helpers.js';

const suite = clientSuite();

/** A topology using every exchange type, queue arguments and both kinds of binding. */
function topology() {
  const n = {
    direct: uniqueName('topo.direct'),
    fanout: uniqueName('topo.fanout'),
    topic: uniqueName('topo.topic'),
    headers: uniqueName('topo.headers'),
    audit: uniqueName('topo.audit'),
    qDirect: uniqueName('topo.q-direct'),
    qFanout: uniqueName('topo.q-fanout'),
    qTopic: uniqueName('topo.q-topic'),
    qHeaders: uniqueName('topo.q-headers'),
    qLimited: uniqueName('topo.q-limited'),
    qQuorum: uniqueName('topo.q-quorum'),
    qAudit: uniqueName('topo.q-audit'),
  };
  const config: RabbitMQConfig = {
    exchanges: [
      { name: n.direct, type: ExchangeType.DIRECT, durable: false, autoDelete: false },
      { name: n.fanout, type: 'fanout', durable: false },
      { name: n.topic, type: 'topic', durable: false },
      { name: n.headers, type: 'headers', durable: false },
    ],
    queues: [
      // No routingKey: bound with the queue's own name.
      { name: n.qDirect, exchange: n.direct },
      { name: n.qFanout, exchange: n.fanout, routingKey: '' },
      { name: n.qTopic, exchange: n.topic, routingKey: 'orders.*' },
      { name: n.qHeaders },
      {
        name: n.qLimited,
        arguments: { 'x-message-ttl': 60_000, 'x-max-length': 2 },
        exchange: n.direct,
        routingKey: 'limited',
      },
      { name: n.qQuorum, arguments: { 'x-queue-type': 'quorum' }, exchange: n.direct, routingKey: 'quorum' },
      // Bound to an exchange defined inline (hoisted into the exchanges).
      { name: n.qAudit, exchange: { name: n.audit, type: 'fanout', durable: false } },
    ],
    bindings: [
      // Exchange to exchange: audit events published on the topic exchange reach the audit fanout.
      { source: n.topic, destination: n.audit, destinationType: 'exchange', routingKey: 'audit.#' },
      { source: n.headers, destination: n.qHeaders, arguments: { 'x-match': 'all', kind: 'invoice' } },
    ],
  };
  suite.deleteQueuesAfter(n.qDirect, n.qFanout, n.qTopic, n.qHeaders, n.qLimited, n.qQuorum, n.qAudit);
  suite.deleteExchangesAfter(n.direct, n.fanout, n.topic, n.headers, n.audit);
  return { n, config };
}

function bodies(messages: { body: Buffer }[]): string[] {
  return messages.map((m) => m.body.toString());
}

describe('topology from the config', () => {
  it('declares every exchange type, queue arguments and bindings, and routes accordingly', async () => {
    const { n, config } = topology();
    const mq = suite.client(config);
    await mq.connect();
    expect(mq.state).toBe('ready');
    expect(mq.config.exchanges.map((e) => e.name)).toEqual([n.direct, n.fanout, n.topic, n.headers, n.audit]);
    const ch = await mq.getChannel();

    // direct, default routing key = the queue name
    await mq.publishMessage(n.qDirect, 'to direct', { exchange: n.direct });
    expect(bodies(await getAll(ch, n.qDirect))).toEqual(['to direct']);
    const wrongKey = await rejectionOf(mq.publishMessage('nobody', 'x', { exchange: n.direct }));
    expect(wrongKey).toBeInstanceOf(UnroutableError);

    // fanout ignores the key
    await mq.publishMessage('whatever.key', 'to fanout', { exchange: n.fanout });
    expect(bodies(await getAll(ch, n.qFanout))).toEqual(['to fanout']);

    // topic pattern
    await mq.publishMessage('orders.created', 'order', { exchange: n.topic });
    expect(await rejectionOf(mq.publishMessage('orders.created.late', 'x', { exchange: n.topic }))).toBeInstanceOf(
      UnroutableError,
    );
    expect(bodies(await getAll(ch, n.qTopic))).toEqual(['order']);

    // headers binding with arguments
    await mq.publishMessage('', 'invoice', { exchange: n.headers, headers: { kind: 'invoice' } });
    expect(
      await rejectionOf(mq.publishMessage('', 'receipt', { exchange: n.headers, headers: { kind: 'receipt' } })),
    ).toBeInstanceOf(UnroutableError);
    expect(bodies(await getAll(ch, n.qHeaders))).toEqual(['invoice']);

    // exchange-to-exchange: topic -> audit (fanout) -> qAudit, and not into the orders.* queue
    await mq.publishMessage('audit.login.failed', 'audit', { exchange: n.topic });
    expect(bodies(await getAll(ch, n.qAudit))).toEqual(['audit']);
    expect(await messageCount(ch, n.qTopic)).toBe(0);

    // quorum queue
    await mq.publishMessage('quorum', 'to quorum', { exchange: n.direct });
    expect(bodies(await getAll(ch, n.qQuorum))).toEqual(['to quorum']);

    // x-max-length 2: the oldest of three is dropped
    for (const b of ['one', 'two', 'three']) await mq.publishMessage('limited', b, { exchange: n.direct });
    expect(bodies(await getAll(ch, n.qLimited))).toEqual(['two', 'three']);
  });

  it('applies queue arguments and flags: the broker refuses a redeclare that differs from them', async () => {
    const { n, config } = topology();
    const mq = suite.client(config);
    await mq.connect();
    const conn = await connect(brokerUrl());
    suite.defer(() => conn.close());
    const redeclare = async (queue: string, args: Record<string, unknown>, durable = true) => {
      const ch = await conn.createChannel();
      try {
        await ch.queueDeclare({ queue, durable, arguments: args as never });
        return undefined;
      } catch (err) {
        return err as ChannelError;
      } finally {
        await ch.close();
      }
    };
    // The same arguments are equivalent...
    expect(await redeclare(n.qLimited, { 'x-message-ttl': 60_000, 'x-max-length': 2 })).toBeUndefined();
    // ...others are not, which shows what the config declared.
    const ttl = await redeclare(n.qLimited, { 'x-message-ttl': 1000, 'x-max-length': 2 });
    expect(ttl).toBeInstanceOf(ChannelError);
    expect(ttl?.replyCode).toBe(406);
    expect(ttl?.replyText).toContain('x-message-ttl');
    const type = await redeclare(n.qQuorum, { 'x-queue-type': 'classic' });
    expect(type?.replyCode).toBe(406);
    expect(type?.replyText).toContain('x-queue-type');
    // A transient redeclare of the durable queue: refused as inequivalent (406) by 3.10 and 4.x alike, before
    // RabbitMQ 4 would look at whether it may create a transient non-exclusive queue (it creates none here).
    const durable = await redeclare(n.qDirect, {}, false);
    expect(durable?.replyCode).toBe(406);
    expect(durable?.replyText).toContain('durable');
  });

  it('declareInfrastructure() is idempotent: twice more, nothing lost, routing unchanged', async () => {
    const { n, config } = topology();
    const mq = suite.client(config);
    await mq.connect();
    await mq.publishMessage('orders.kept', 'kept', { exchange: n.topic });
    await mq.declareInfrastructure();
    await mq.declareInfrastructure();
    const ch = await mq.getChannel();
    expect(await messageCount(ch, n.qTopic)).toBe(1);
    await mq.publishMessage('orders.after', 'after', { exchange: n.topic });
    expect(bodies(await getAll(ch, n.qTopic))).toEqual(['kept', 'after']);
    // A fresh client with the same config declares it again on connect without complaint.
    const again = suite.client(config);
    await again.connect();
    expect(again.state).toBe('ready');
  });

  it('declareInfrastructure() before connect() fails with ClientClosedError', async () => {
    const mq = suite.client({ queues: [{ name: uniqueName('topo.never') }] });
    const err = await rejectionOf(mq.declareInfrastructure());
    expect(err).toBeInstanceOf(ClientClosedError);
  });

  it('a config that conflicts with an existing queue: connect() rejects with 406 naming queues[0] and durable', async () => {
    const queue = uniqueName('topo.conflict');
    suite.deleteQueuesAfter(queue);
    const existing = suite.client({ queues: [{ name: queue, durable: true }] });
    await existing.connect();
    await existing.disconnect();

    // The transient config only redeclares the durable queue: refused as inequivalent (406) by 3.10 and 4.x alike.
    const mq = suite.client({ queues: [{ name: queue, durable: false }] }, { connectRetry: { attempts: 5 } });
    const connected: unknown[] = [];
    mq.on('connected', (info) => connected.push(info));
    const t0 = Date.now();
    const err = await rejectionOf(mq.connect());
    expect(err).toBeInstanceOf(ChannelError);
    const ce = err as ChannelError;
    expect(ce.replyCode).toBe(406);
    expect(ce.code).toBe('PRECONDITION_FAILED');
    expect(ce.recoverable).toBe(false);
    expect(ce.message).toContain('queues[0]');
    expect(ce.message).toContain(JSON.stringify(queue));
    expect(ce.message).toContain('differs in durable');
    // Not retried: the same config would fail the same way (the first retry would wait >= 250 ms).
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(connected).toEqual([]);
    expect(mq.state).toBe('idle');
    expect(mq.isConnected).toBe(false);
    expect(await rejectionOf(mq.publishMessage(queue, 'x'))).toBeInstanceOf(ClientClosedError);
  });

  it('an invalid config throws ConfigValidationError in the constructor, before any connection', () => {
    expect(() =>
      suite.client({ queues: [{ name: uniqueName('topo.bad'), arguments: { 'x-message-ttl': -5 } }] }),
    ).toThrow(ConfigValidationError);
  });
});
