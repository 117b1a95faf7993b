import { describe, expect, it } from 'vitest';
import type { Channel, ReturnedMessage } from '../../../src/connection/channel.js';
import { ChannelError, ConnectionError } from '../../../src/protocol/errors.js';
import { brokerMajor, uniqueName } from '../../helpers/broker.js';
import { brokerUrlWith, engineSuite, nextEvent } from './engine-helpers.js';

const suite = engineSuite();

/** Publishes mandatory in confirm mode; resolves with the basic.return if the message was unroutable. */
async function route(
  ch: Channel,
  exchange: string,
  routingKey: string,
  body = 'probe',
): Promise<ReturnedMessage | undefined> {
  let returned: ReturnedMessage | undefined;
  const onReturn = (m: ReturnedMessage) => {
    returned = m;
  };
  ch.on('return', onReturn);
  try {
    // RabbitMQ sends basic.return before the ack of the same publish.
    await ch.basicPublish({ exchange, routingKey, mandatory: true }, body);
  } finally {
    ch.off('return', onReturn);
  }
  return returned;
}

async function confirmChannel(): Promise<Channel> {
  const conn = await suite.open();
  const ch = await conn.createChannel();
  await ch.confirmSelect();
  return ch;
}

/** Expects `p` to reject with a ChannelError and returns it. */
async function channelError(p: Promise<unknown>): Promise<ChannelError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ChannelError);
  return err as ChannelError;
}

describe('exchanges', () => {
  it('declares, passively re-declares and deletes an exchange', async () => {
    const ch = await confirmChannel();
    const ex = uniqueName('topo.ex');
    suite.deleteExchangesAfter(ex);
    await ch.exchangeDeclare({ exchange: ex, type: 'topic', durable: false, autoDelete: false });
    await ch.exchangeDeclare({ exchange: ex, passive: true });
    await ch.exchangeDelete({ exchange: ex });
    const err = await channelError(ch.exchangeDeclare({ exchange: ex, passive: true }));
    expect(err.replyCode).toBe(404);
    expect(err.code).toBe('NOT_FOUND');
    expect(err.methodName).toBe('exchange.declare');
    expect(err.classId).toBe(40);
    expect(err.methodId).toBe(10);
  });

  it('routes through an exchange-to-exchange binding, and stops after exchange.unbind', async () => {
    const ch = await confirmChannel();
    const source = uniqueName('topo.e2e.src');
    const destination = uniqueName('topo.e2e.dst');
    suite.deleteExchangesAfter(source, destination);
    await ch.exchangeDeclare({ exchange: source, type: 'topic' });
    await ch.exchangeDeclare({ exchange: destination, type: 'fanout' });
    const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
    await ch.queueBind({ queue, exchange: destination });
    await ch.exchangeBind({ destination, source, routingKey: 'orders.#' });

    expect(await route(ch, source, 'orders.created', 'through')).toBeUndefined();
    const returned = await route(ch, source, 'users.created', 'not matched');
    expect(returned?.replyCode).toBe(312);
    const got = await ch.basicGet({ queue, noAck: true });
    expect(got?.body.toString()).toBe('through');
    expect(got?.exchange).toBe(source);
    expect(got?.routingKey).toBe('orders.created');
    expect(await ch.basicGet({ queue, noAck: true })).toBeNull();

    await ch.exchangeUnbind({ destination, source, routingKey: 'orders.#' });
    expect((await route(ch, source, 'orders.created'))?.replyCode).toBe(312);
    expect(await ch.basicGet({ queue, noAck: true })).toBeNull();
  });

  it('refuses exchange.delete ifUnused while the exchange has bindings (406), deletes it without', async () => {
    const conn = await suite.open();
    const ex = uniqueName('topo.ifunused');
    suite.deleteExchangesAfter(ex);
    const ch = await conn.createChannel();
    await ch.exchangeDeclare({ exchange: ex, type: 'direct' });
    const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
    await ch.queueBind({ queue, exchange: ex, routingKey: 'k' });
    const err = await channelError(ch.exchangeDelete({ exchange: ex, ifUnused: true }));
    expect(err.replyCode).toBe(406);
    expect(err.code).toBe('PRECONDITION_FAILED');
    expect(err.methodName).toBe('exchange.delete');
    const ch2 = await conn.createChannel();
    await ch2.exchangeDelete({ exchange: ex });
    await expect(ch2.exchangeDeclare({ exchange: ex, passive: true })).rejects.toMatchObject({ replyCode: 404 });
  });

  it('rejects an unknown exchange type: 503 COMMAND_INVALID closing the connection (3.x), 406 the channel (4.x)', async () => {
    const conn = await suite.open();
    const ch = await conn.createChannel();
    const closed = nextEvent<[unknown]>(conn, 'close');
    const err = await ch
      .exchangeDeclare({ exchange: uniqueName('topo.badtype'), type: 'no-such-type' })
      .catch((e) => e);
    if (brokerMajor(conn.serverProperties) >= 4) {
      // RabbitMQ 4 answers with channel.close 406: only the channel goes.
      expect(err).toBeInstanceOf(ChannelError);
      expect((err as ChannelError).replyCode).toBe(406);
      expect((err as ChannelError).replyText).toContain('unknown exchange type');
      expect(conn.state).toBe('open');
      return;
    }
    // RabbitMQ 3 answers an unknown exchange type with connection.close 503: the whole connection goes.
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).replyCode).toBe(503);
    const [connErr] = await closed;
    expect(connErr).toBeInstanceOf(ConnectionError);
    expect((connErr as ConnectionError).methodName).toBe('exchange.declare');
    expect(conn.state).toBe('closed');
  });
});

describe('queues', () => {
  it('declares a server-named queue and reports message and consumer counts', async () => {
    const ch = await confirmChannel();
    const declared = await ch.queueDeclare({ queue: '', exclusive: true });
    expect(declared).toEqual({ queue: expect.stringMatching(/^amq\.gen-/), messageCount: 0, consumerCount: 0 });
    await ch.basicPublish({ routingKey: declared.queue }, 'one');
    await ch.basicPublish({ routingKey: declared.queue }, 'two');
    await ch.basicConsume({ queue: declared.queue, noAck: false }, () => {});
    const again = await ch.queueDeclare({ queue: declared.queue, passive: true });
    expect(again.queue).toBe(declared.queue);
    expect(again.consumerCount).toBe(1);
  });

  it('declares a named queue with arguments; a passive declare reports its message count', async () => {
    const ch = await confirmChannel();
    const queue = uniqueName('topo.named');
    suite.deleteQueuesAfter(queue);
    const declared = await ch.queueDeclare({ queue, durable: true, arguments: { 'x-max-length': 10 } });
    expect(declared).toEqual({ queue, messageCount: 0, consumerCount: 0 });
    for (let i = 0; i < 3; i++) await ch.basicPublish({ routingKey: queue }, `m${i}`);
    expect(await ch.queueDeclare({ queue, passive: true })).toEqual({ queue, messageCount: 3, consumerCount: 0 });
    // Re-declaring with the same arguments is fine.
    await expect(ch.queueDeclare({ queue, durable: true, arguments: { 'x-max-length': 10 } })).resolves.toMatchObject({
      messageCount: 3,
    });
  });

  it('binds and unbinds a queue (routing verified with mandatory publishes)', async () => {
    const ch = await confirmChannel();
    const ex = uniqueName('topo.bind');
    suite.deleteExchangesAfter(ex);
    await ch.exchangeDeclare({ exchange: ex, type: 'direct' });
    const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
    await ch.queueBind({ queue, exchange: ex, routingKey: 'rk' });
    expect(await route(ch, ex, 'rk', 'bound')).toBeUndefined();
    expect((await route(ch, ex, 'other'))?.replyCode).toBe(312);
    await ch.queueUnbind({ queue, exchange: ex, routingKey: 'rk' });
    const returned = await route(ch, ex, 'rk', 'after unbind');
    expect(returned).toMatchObject({ replyCode: 312, replyText: 'NO_ROUTE', exchange: ex, routingKey: 'rk' });
    expect(returned?.body.toString()).toBe('after unbind');
    const got = await ch.basicGet({ queue, noAck: true });
    expect(got?.body.toString()).toBe('bound');
    expect(await ch.basicGet({ queue, noAck: true })).toBeNull();
  });

  it('binds with a headers exchange and binding arguments', async () => {
    const ch = await confirmChannel();
    const ex = uniqueName('topo.headers');
    suite.deleteExchangesAfter(ex);
    await ch.exchangeDeclare({ exchange: ex, type: 'headers' });
    const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
    await ch.queueBind({ queue, exchange: ex, arguments: { 'x-match': 'all', region: 'eu', tier: 1 } });
    let returned: ReturnedMessage | undefined;
    ch.on('return', (m) => {
      returned = m;
    });
    await ch.basicPublish({ exchange: ex, mandatory: true }, 'match', { headers: { region: 'eu', tier: 1 } });
    expect(returned).toBeUndefined();
    await ch.basicPublish({ exchange: ex, mandatory: true }, 'no match', { headers: { region: 'eu', tier: 2 } });
    expect(returned?.replyCode).toBe(312);
    expect((await ch.basicGet({ queue, noAck: true }))?.body.toString()).toBe('match');
  });

  it('purges a queue (messageCount) and deletes one (messageCount)', async () => {
    const ch = await confirmChannel();
    const queue = uniqueName('topo.purge');
    suite.deleteQueuesAfter(queue);
    await ch.queueDeclare({ queue, durable: true });
    for (let i = 0; i < 5; i++) await ch.basicPublish({ routingKey: queue }, `m${i}`);
    expect(await ch.queuePurge({ queue })).toEqual({ messageCount: 5 });
    expect(await ch.queuePurge({ queue })).toEqual({ messageCount: 0 });
    for (let i = 0; i < 3; i++) await ch.basicPublish({ routingKey: queue }, `n${i}`);
    expect(await ch.queueDelete({ queue })).toEqual({ messageCount: 3 });
    const err = await channelError(ch.queueDeclare({ queue, passive: true }));
    expect(err.replyCode).toBe(404);
  });

  it('refuses queue.delete ifEmpty on a queue with messages (406)', async () => {
    const conn = await suite.open();
    const ch = await conn.createChannel();
    await ch.confirmSelect();
    const queue = uniqueName('topo.ifempty');
    suite.deleteQueuesAfter(queue);
    await ch.queueDeclare({ queue, durable: true });
    await ch.basicPublish({ routingKey: queue }, 'x');
    const err = await channelError(ch.queueDelete({ queue, ifEmpty: true }));
    expect(err.replyCode).toBe(406);
    expect(err.methodName).toBe('queue.delete');
    const ch2 = await conn.createChannel();
    expect(await ch2.queueDelete({ queue, ifUnused: true })).toEqual({ messageCount: 1 });
  });
});

describe('channel errors', () => {
  it('passive declare of a missing queue: ChannelError 404 on queue.declare; channel closed, connection usable', async () => {
    const conn = await suite.open();
    const ch = await conn.createChannel();
    const closeEvent = nextEvent<[unknown]>(ch, 'close');
    // A call queued behind the failing one fails with the same error.
    const failing = ch.queueDeclare({ queue: uniqueName('topo.missing'), passive: true });
    const queued = ch.queueDeclare({ queue: '', exclusive: true }).catch((e: unknown) => e);
    const err = await channelError(failing);
    expect(err.replyCode).toBe(404);
    expect(err.code).toBe('NOT_FOUND');
    expect(err.classId).toBe(50);
    expect(err.methodId).toBe(10);
    expect(err.methodName).toBe('queue.declare');
    expect(err.replyText).toMatch(/^NOT_FOUND - no queue/);
    expect(err.recoverable).toBe(false);
    expect(await queued).toBe(err);
    const [closeErr] = await closeEvent;
    expect(closeErr).toBe(err);
    expect(ch.state).toBe('closed');
    expect(ch.isOpen).toBe(false);
    expect(ch.error).toBe(err);
    expect(conn.isOpen).toBe(true);
    // Methods of the closed channel fail at once; acks report that nothing was sent.
    await expect(ch.queueDeclare({ queue: '', exclusive: true })).rejects.toMatchObject({ code: 'ERR_CHANNEL_CLOSED' });
    await expect(ch.basicPublish({ routingKey: 'x' }, 'x')).rejects.toBeInstanceOf(ChannelError);
    expect(ch.basicAck(1)).toBe(false);
    expect(ch.basicNack(1)).toBe(false);
    expect(ch.basicReject(1)).toBe(false);
    await ch.close(); // idempotent on a closed channel
    const ch2 = await conn.createChannel();
    await expect(ch2.queueDeclare({ queue: '', exclusive: true })).resolves.toMatchObject({ messageCount: 0 });
    expect(conn.isOpen).toBe(true);
  });

  it('redeclaring a queue with a different durable flag fails with 406 PRECONDITION_FAILED', async () => {
    const conn = await suite.open();
    const queue = uniqueName('topo.redeclare');
    suite.deleteQueuesAfter(queue);
    const ch = await conn.createChannel();
    await ch.queueDeclare({ queue, durable: true });
    // A transient redeclare of the durable queue: refused as inequivalent (406) by 3.10 and 4.x alike, before
    // RabbitMQ 4 would look at whether it may create a transient non-exclusive queue (it creates none here).
    const err = await channelError(ch.queueDeclare({ queue, durable: false }));
    expect(err.replyCode).toBe(406);
    expect(err.code).toBe('PRECONDITION_FAILED');
    expect(err.methodName).toBe('queue.declare');
    expect(err.replyText).toContain('durable');
    expect(conn.isOpen).toBe(true);
  });

  it('redeclaring an exchange with a different type fails with 406 PRECONDITION_FAILED', async () => {
    const conn = await suite.open();
    const ex = uniqueName('topo.ex.redeclare');
    suite.deleteExchangesAfter(ex);
    const ch = await conn.createChannel();
    await ch.exchangeDeclare({ exchange: ex, type: 'direct' });
    const err = await channelError(ch.exchangeDeclare({ exchange: ex, type: 'fanout' }));
    expect(err.replyCode).toBe(406);
    expect(err.methodName).toBe('exchange.declare');
  });

  it('an exclusive queue of another connection is locked: 405 RESOURCE_LOCKED', async () => {
    const owner = await suite.open();
    const other = await suite.open();
    const queue = uniqueName('topo.exclusive');
    const ownerCh = await owner.createChannel();
    await ownerCh.queueDeclare({ queue, exclusive: true });
    const ch = await other.createChannel();
    const err = await channelError(ch.queueDeclare({ queue, exclusive: true }));
    expect(err.replyCode).toBe(405);
    expect(err.code).toBe('RESOURCE_LOCKED');
    expect(err.recoverable).toBe(true);
    expect(err.methodName).toBe('queue.declare');
    const ch2 = await other.createChannel();
    const consumeErr = await channelError(ch2.basicConsume({ queue }, () => {}));
    expect(consumeErr.replyCode).toBe(405);
    expect(consumeErr.methodName).toBe('basic.consume');
    expect(other.isOpen).toBe(true);
    expect(ownerCh.isOpen).toBe(true);
  });

  it('publishing to a missing exchange closes the channel with 404 (basic.publish)', async () => {
    const conn = await suite.open();
    const ch = await conn.createChannel();
    const closed = nextEvent<[unknown]>(ch, 'close');
    await ch.basicPublish({ exchange: uniqueName('topo.nonexistent'), routingKey: 'x' }, 'lost');
    const [err] = await closed;
    expect(err).toBeInstanceOf(ChannelError);
    expect((err as ChannelError).replyCode).toBe(404);
    expect((err as ChannelError).methodName).toBe('basic.publish');
    expect(conn.isOpen).toBe(true);
  });
});

describe('channel methods after the channel closed (bug: they hang and send frames on a dead channel)', () => {
  /** A channel that the broker has closed (404), on a connection that is still open. */
  async function brokerClosedChannel() {
    const conn = await suite.open();
    const ch = await conn.createChannel();
    await ch.queueDeclare({ queue: uniqueName('topo.gone'), passive: true }).catch(() => {});
    expect(ch.state).toBe('closed');
    return { conn, ch };
  }

  const calls: Array<[string, (ch: Channel) => Promise<unknown>]> = [
    ['basicGet', (ch) => ch.basicGet({ queue: 'amq.rabbitmq.reply-to-nonexistent' })],
    ['basicConsume', (ch) => ch.basicConsume({ queue: 'whatever' }, () => {})],
    ['basicCancel', (ch) => ch.basicCancel('some-tag')],
    ['confirmSelect', (ch) => ch.confirmSelect()],
  ];

  it.each(calls)('%s rejects at once with ERR_CHANNEL_CLOSED and the connection stays open', async (_name, call) => {
    const { conn, ch } = await brokerClosedChannel();
    let connError: unknown;
    conn.on('close', (err) => {
      connError = err;
    });
    const p = call(ch);
    p.catch(() => {});
    const outcome = await Promise.race([
      p.then(
        () => 'resolved',
        (e: unknown) => e,
      ),
      new Promise((r) => setTimeout(() => r('still pending after 1500 ms'), 1500)),
    ]);
    expect(outcome).toBeInstanceOf(ChannelError);
    expect((outcome as ChannelError).code).toBe('ERR_CHANNEL_CLOSED');
    // Nothing may have been sent on the closed channel: RabbitMQ would close the connection (504).
    const probe = await conn.createChannel().catch((e: unknown) => e);
    expect(connError).toBeUndefined();
    expect(conn.isOpen).toBe(true);
    expect(probe).not.toBeInstanceOf(Error);
  });

  it('a stale channel object cannot talk on a reused channel id', async () => {
    const conn = await suite.open(brokerUrlWith('channel_max=2'));
    let connError: unknown;
    conn.on('close', (err) => {
      connError = err;
    });
    expect(conn.channelMax).toBe(2);
    const stale = await conn.createChannel();
    expect(stale.id).toBe(1);
    await stale.queueDeclare({ queue: uniqueName('topo.gone'), passive: true }).catch(() => {});
    const other = await conn.createChannel();
    expect(other.id).toBe(2);
    const reused = await conn.createChannel();
    expect(reused.id).toBe(1);
    const { queue } = await reused.queueDeclare({ queue: '', exclusive: true });
    const p = stale.basicGet({ queue });
    p.catch(() => {});
    await new Promise((r) => setTimeout(r, 300));
    // The stale basic.get went out on channel 1, which now belongs to `reused`: its get-empty reply is
    // unexpected there and the connection dies with 505.
    expect(connError).toBeUndefined();
    expect(conn.isOpen).toBe(true);
    expect(reused.isOpen).toBe(true);
  });
});
