/**
 * AsyncRabbitMQ.publishMessage against the real broker: bodies and their content types, message ids,
 * delivery mode, unroutable and missing-exchange failures, and arguments refused before sending.
 */
import { describe, expect, it } from 'vitest';
import type { AsyncRabbitMQ } from '../../../src/client/async-rabbitmq.js';
import { ClientClosedError, InvalidMessageError, UnroutableError } from '../../../src/client/errors.js';
import type { GetMessage } from '../../../src/connection/channel.js';
import { ChannelError } from '../../../src/protocol/errors.js';
import { uniqueName } from '../../helpers/broker.js';
import { clientSuite, getAll, messageCount, rejectionOf } from './client-helpers.js';

const suite = clientSuite();
/** A UUIDv7 (RFC 9562): what publishMessage gives a message without a messageId. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A connected client with one (non-durable) queue. */
async function withQueue(label: string): Promise<{ mq: AsyncRabbitMQ; queue: string }> {
  const queue = uniqueName(`pub.${label}`);
  suite.deleteQueuesAfter(queue);
  const mq = suite.client({ queues: [{ name: queue }] });
  await mq.connect();
  return { mq, queue };
}

describe('publishMessage: bodies and properties', () => {
  it('sends strings as text/plain, objects as application/json and bytes as given', async () => {
    const { mq, queue } = await withQueue('bodies');
    const bytes = Buffer.from([0, 1, 2, 254, 255]);
    await mq.publishMessage(queue, 'héllo wörld');
    await mq.publishMessage(queue, { order: 42, items: ['a', 'b'], nested: { ok: true } });
    await mq.publishMessage(queue, bytes);
    await mq.publishMessage(queue, new Uint8Array([7, 8, 9]).subarray(1));
    await mq.publishMessage(queue, [1, 'two']);
    await mq.publishMessage(queue, 'raw', { contentType: 'application/x-custom', contentEncoding: 'identity' });
    const got = await getAll(await mq.getChannel(), queue);
    expect(got).toHaveLength(6);
    const [text, json, buf, u8, arr, custom] = got as [
      GetMessage,
      GetMessage,
      GetMessage,
      GetMessage,
      GetMessage,
      GetMessage,
    ];
    expect(text.body.toString('utf8')).toBe('héllo wörld');
    expect(text.properties.contentType).toBe('text/plain');
    expect(JSON.parse(json.body.toString())).toEqual({ order: 42, items: ['a', 'b'], nested: { ok: true } });
    expect(json.properties.contentType).toBe('application/json');
    expect(Buffer.compare(buf.body, bytes)).toBe(0);
    expect(buf.properties.contentType).toBeUndefined();
    expect([...u8.body]).toEqual([8, 9]);
    expect(JSON.parse(arr.body.toString())).toEqual([1, 'two']);
    expect(arr.properties.contentType).toBe('application/json');
    expect(custom.properties.contentType).toBe('application/x-custom');
    expect(custom.properties.contentEncoding).toBe('identity');
  });

  it('sets a UUIDv7 messageId unless one is given, and a timestamp', async () => {
    const { mq, queue } = await withQueue('ids');
    const before = Math.floor(Date.now() / 1000);
    await mq.publishMessage(queue, 'a');
    await mq.publishMessage(queue, 'b');
    await mq.publishMessage(queue, 'c', { messageId: 'my-id-1', correlationId: 'corr', appId: 'tests', type: 't' });
    const [a, b, c] = await getAll(await mq.getChannel(), queue);
    expect(a?.properties.messageId).toMatch(UUID);
    expect(b?.properties.messageId).toMatch(UUID);
    expect(a?.properties.messageId).not.toBe(b?.properties.messageId);
    expect(c?.properties).toMatchObject({ messageId: 'my-id-1', correlationId: 'corr', appId: 'tests', type: 't' });
    const ts = a?.properties.timestamp;
    expect(ts).toBeInstanceOf(Date);
    expect(Math.floor((ts as Date).getTime() / 1000)).toBeGreaterThanOrEqual(before - 1);
  });

  it('is persistent (delivery mode 2) by default, transient with persistent: false; headers, expiration and priority arrive', async () => {
    const { mq, queue } = await withQueue('mode');
    await mq.publishMessage(queue, 'p');
    await mq.publishMessage(queue, 't', { persistent: false });
    await mq.publishMessage(queue, 'h', { headers: { 'x-tenant': 'acme', n: 5 }, expiration: 60_000, priority: 3 });
    const [p, t, h] = await getAll(await mq.getChannel(), queue);
    expect(p?.properties.deliveryMode).toBe(2);
    expect(t?.properties.deliveryMode).toBe(1);
    expect(h?.properties.headers).toMatchObject({ 'x-tenant': 'acme', n: 5 });
    expect(h?.properties.expiration).toBe('60000');
    expect(h?.properties.priority).toBe(3);
  });
});

describe('publishMessage: failures', () => {
  it('rejects an unroutable mandatory message with UnroutableError naming exchange and routing key', async () => {
    const exchange = uniqueName('pub.lonely');
    suite.deleteExchangesAfter(exchange);
    const { mq } = await withQueue('unroutable');
    await mq.declareInfrastructure();
    const mq2 = suite.client({ exchanges: [{ name: exchange, type: 'direct', durable: false }] });
    await mq2.connect();

    const key = uniqueName('pub.nobody');
    const viaDefault = await rejectionOf(mq.publishMessage(key, 'x'));
    expect(viaDefault).toBeInstanceOf(UnroutableError);
    expect((viaDefault as UnroutableError).exchange).toBe('');
    expect((viaDefault as UnroutableError).routingKey).toBe(key);
    expect((viaDefault as UnroutableError).replyCode).toBe(312);
    expect(viaDefault.message).toContain(JSON.stringify(key));

    const viaNamed = await rejectionOf(mq2.publishMessage('rk.none', { a: 1 }, { exchange }));
    expect(viaNamed).toBeInstanceOf(UnroutableError);
    expect(viaNamed.message).toContain(JSON.stringify(exchange));
    expect(viaNamed.message).toContain('"rk.none"');
    // The client carries on.
    expect(mq2.isReady).toBe(true);
    expect(mq2.pendingPublishes).toBe(0);
  });

  it('resolves an unroutable message with mandatory: false (the broker drops it)', async () => {
    const { mq } = await withQueue('not-mandatory');
    await expect(mq.publishMessage(uniqueName('pub.nobody'), 'x', { mandatory: false })).resolves.toBeUndefined();
    expect(mq.pendingPublishes).toBe(0);
  });

  it('rejects a publish to a missing exchange with ChannelError 404; concurrent publishes to valid targets resolve', async () => {
    const { mq, queue } = await withQueue('missing-ex');
    const missing = uniqueName('pub.missing-ex');
    const before = Array.from({ length: 200 }, (_, i) => `before-${i}`);
    const after = Array.from({ length: 200 }, (_, i) => `after-${i}`);
    const good = (id: string) => mq.publishMessage(queue, id, { messageId: id });
    const results = await Promise.allSettled([
      ...before.map(good),
      mq.publishMessage('rk', 'lost cause', { exchange: missing }),
      ...after.map(good),
    ]);
    const bad = results[before.length]!;
    expect(bad.status).toBe('rejected');
    const err = (bad as PromiseRejectedResult).reason as ChannelError;
    expect(err).toBeInstanceOf(ChannelError);
    expect(err.replyCode).toBe(404);
    expect(err.message).toContain(missing);
    const others = results.filter((_, i) => i !== before.length);
    expect(others.filter((r) => r.status === 'rejected')).toEqual([]);
    // Every valid message is in the queue (messages in flight when the channel closed may be there twice).
    const ids = new Set((await getAll(await mq.getChannel(), queue)).map((m) => m.properties.messageId));
    expect(ids.size).toBe(before.length + after.length);
    // The client recovered its publish channel.
    await expect(good('later')).resolves.toBeUndefined();
    expect(mq.state).toBe('ready');
    expect(mq.isReady).toBe(true);
  });

  it('missing exchanges (three different ones) do not take down messages to valid targets', async () => {
    // Each 404 closes the publish channel; the client knows which messages caused it (they name the
    // missing exchange). The others did nothing wrong and must not be charged with these failures.
    const { mq, queue } = await withQueue('missing-3');
    const ids: string[] = [];
    const all: Promise<void>[] = [];
    const missing: Promise<void>[] = [];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 300; i++) {
        const id = `r${round}-${i}`;
        ids.push(id);
        all.push(mq.publishMessage(queue, id, { messageId: id }));
      }
      missing.push(mq.publishMessage('rk', 'x', { exchange: uniqueName(`pub.missing-${round}`) }));
    }
    const badResults = await Promise.allSettled(missing);
    for (const r of badResults) {
      expect(r.status).toBe('rejected');
      expect(((r as PromiseRejectedResult).reason as ChannelError).replyCode).toBe(404);
    }
    const results = await Promise.allSettled(all);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(
      rejected.length,
      `valid messages rejected with: ${rejected[0] ? (rejected[0].reason as Error).message : ''}`,
    ).toBe(0);
    const got = new Set((await getAll(await mq.getChannel(), queue)).map((m) => m.properties.messageId));
    expect(got.size).toBe(ids.length);
  });

  it('refuses an invalid expiration or priority with InvalidMessageError before anything is sent', async () => {
    const { mq, queue } = await withQueue('invalid');
    const bad: Array<Record<string, unknown>> = [
      { expiration: -1 },
      { expiration: '1.5' },
      { expiration: 'soon' },
      { expiration: 2 ** 32 },
      { priority: 256 },
      { priority: -1 },
      { priority: 1.5 },
    ];
    for (const options of bad) {
      const err = await rejectionOf(mq.publishMessage(queue, 'x', options));
      expect(err, JSON.stringify(options)).toBeInstanceOf(InvalidMessageError);
      expect(mq.pendingPublishes).toBe(0);
    }
    // Nothing reached the broker, and the publish channel is intact (an invalid expiration would close it).
    const ch = await mq.getChannel();
    expect(await messageCount(ch, queue)).toBe(0);
    await mq.publishMessage(queue, 'fine', { expiration: '60000', priority: 0 });
    expect(await messageCount(ch, queue)).toBe(1);
    expect(mq.isReady).toBe(true);

    // Checked before anything else: even a client that is not connected says InvalidMessageError.
    const idle = suite.client();
    expect(await rejectionOf(idle.publishMessage('q', 'x', { priority: 300 }))).toBeInstanceOf(InvalidMessageError);
    expect(await rejectionOf(idle.publishMessage('q', 'x'))).toBeInstanceOf(ClientClosedError);
    expect(await rejectionOf(idle.publishMessage('q', undefined as never))).toBeInstanceOf(InvalidMessageError);
  });
});
