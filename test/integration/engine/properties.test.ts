import { connect as netConnect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { Delivery } from '../../../src/connection/channel.js';
import { ChannelError, ConnectionError } from '../../../src/protocol/errors.js';
import { Decimal, type FieldTable, typed } from '../../../src/protocol/field-table.js';
import type { BasicProperties } from '../../../src/protocol/spec.js';
import { brokerOptions, engineSuite, nextEvent, waitFor } from './engine-helpers.js';

const suite = engineSuite();

/** Every type a header table can carry, under keys that name the wire tag warren writes. */
function everyTypeHeaders(): FieldTable {
  return {
    S_string: 'hello',
    S_empty: '',
    S_unicode: 'héllo wörld ✓ 🐇',
    I_int32: 42,
    I_negative: -7,
    I_max: 2147483647,
    I_min: -2147483648,
    l_bigint_2e40: 2n ** 40n,
    l_bigint_neg5: -5n,
    l_bigint_max: 2n ** 63n - 1n,
    l_number_above_int32: 2147483648,
    l_number_2e40: 2 ** 40,
    d_double: 1.5,
    d_negative: -3.25,
    d_tiny: 1e-300,
    d_negzero: -0,
    t_true: true,
    t_false: false,
    V_null: null,
    x_bytes: Buffer.from([0, 1, 2, 254, 255]),
    x_empty: Buffer.alloc(0),
    x_uint8array: new Uint8Array([9, 8, 7]),
    T_date: new Date('2024-02-29T12:34:56.000Z'),
    T_date_ms: new Date('2024-02-29T12:34:56.789Z'),
    D_decimal: new Decimal(2, 12345),
    D_negative: new Decimal(5, -1),
    b_int8: typed('b', -128),
    B_uint8: typed('B', 255),
    s_int16: typed('s', -32768),
    u_uint16: typed('u', 65535),
    i_uint32: typed('i', 4294967295),
    f_float: typed('f', 1.5),
    l_typed: typed('l', 7),
    F_nested: { a: 1, b: { c: 'deep', d: [1, 2, { e: true }] }, empty: {} },
    A_array: [1, 'two', true, null, 2n ** 40n, 1.25, Buffer.from('x'), new Decimal(1, 5), [3, [4]], { k: 'v' }, []],
    A_empty: [],
    A_with_undefined: [1, undefined, 2],
    skipped_undefined: undefined,
  };
}

/** What comes back for {@link everyTypeHeaders}: the read side of the field-table mapping. */
function everyTypeExpected(): FieldTable {
  return {
    S_string: 'hello',
    S_empty: '',
    S_unicode: 'héllo wörld ✓ 🐇',
    I_int32: 42,
    I_negative: -7,
    I_max: 2147483647,
    I_min: -2147483648,
    l_bigint_2e40: 2n ** 40n,
    l_bigint_neg5: -5n,
    l_bigint_max: 2n ** 63n - 1n,
    l_number_above_int32: 2147483648n, // integers beyond int32 travel as `l` and come back as bigint
    l_number_2e40: 2n ** 40n,
    d_double: 1.5,
    d_negative: -3.25,
    d_tiny: 1e-300,
    d_negzero: -0,
    t_true: true,
    t_false: false,
    V_null: null,
    x_bytes: Buffer.from([0, 1, 2, 254, 255]),
    x_empty: Buffer.alloc(0),
    x_uint8array: Buffer.from([9, 8, 7]), // read back as Buffer
    T_date: new Date('2024-02-29T12:34:56.000Z'),
    T_date_ms: new Date('2024-02-29T12:34:56.000Z'), // timestamps are whole seconds
    D_decimal: new Decimal(2, 12345),
    D_negative: new Decimal(5, -1),
    b_int8: -128,
    B_uint8: 255,
    s_int16: -32768,
    u_uint16: 65535,
    i_uint32: 4294967295,
    f_float: 1.5,
    l_typed: 7n,
    F_nested: { a: 1, b: { c: 'deep', d: [1, 2, { e: true }] }, empty: {} },
    A_array: [1, 'two', true, null, 2n ** 40n, 1.25, Buffer.from('x'), new Decimal(1, 5), [3, [4]], { k: 'v' }, []],
    A_empty: [],
    A_with_undefined: [1, null, 2], // undefined in an array is written as void
  };
}

/** All 14 basic properties (userId must be the authenticated user, or RabbitMQ refuses the publish). */
function allProperties(headers: FieldTable): BasicProperties {
  return {
    contentType: 'application/json',
    contentEncoding: 'gzip',
    headers,
    deliveryMode: 2,
    priority: 7,
    correlationId: 'corr-1',
    replyTo: 'reply-queue',
    expiration: '60000',
    messageId: 'msg-1',
    timestamp: new Date('2023-11-14T22:13:20.000Z'),
    type: 'order.created',
    userId: 'guest',
    appId: 'warren-tests',
    clusterId: 'cluster-a',
  };
}

function expectHeaders(actual: FieldTable | undefined, expected: FieldTable): void {
  expect(actual).toBeDefined();
  const h = actual!;
  expect(Object.keys(h).sort()).toEqual(Object.keys(expected).sort());
  expect(h).toStrictEqual(expected);
  // toStrictEqual does not tell 0 from -0 through every path: check the signed zero explicitly.
  expect(Object.is(h.d_negzero, -0)).toBe(true);
  expect(h.D_decimal).toBeInstanceOf(Decimal);
  expect(typeof h.l_bigint_2e40).toBe('bigint');
  expect(Buffer.isBuffer(h.x_uint8array)).toBe(true);
}

/** A socket to the broker whose received bytes are recorded, to inspect the wire type tags. */
async function tappedSocket(): Promise<{ socket: Socket; received: () => Buffer; reset: () => void }> {
  const o = brokerOptions();
  const socket = netConnect({ host: o.hostname!, port: o.port! });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(Buffer.from(c)));
  return {
    socket,
    received: () => Buffer.concat(chunks),
    reset: () => {
      chunks = [];
    },
  };
}

/** The tag byte written after `key` (a shortstr) in the last occurrence of that key in `bytes`. */
function wireTag(bytes: Buffer, key: string): string {
  const needle = Buffer.concat([Buffer.from([Buffer.byteLength(key)]), Buffer.from(key)]);
  const at = bytes.lastIndexOf(needle);
  if (at < 0) return '(missing)';
  return String.fromCharCode(bytes[at + needle.length]!);
}

describe('basic properties and headers through the broker', () => {
  it('round-trips all 14 properties and a header table of every type via basic.get', async () => {
    const conn = await suite.open();
    const ch = await conn.createChannel();
    await ch.confirmSelect();
    const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
    const props = allProperties(everyTypeHeaders());
    await ch.basicPublish({ routingKey: queue }, 'payload', props);
    const got = await ch.basicGet({ queue, noAck: true });
    expect(got).not.toBeNull();
    const { headers, ...rest } = got!.properties;
    const { headers: _sent, ...sentRest } = props;
    expect(rest).toStrictEqual(sentRest);
    expectHeaders(headers, everyTypeExpected());
    expect(got!.body.toString()).toBe('payload');
  });

  it('round-trips the same through a consumer (basic.deliver)', async () => {
    const conn = await suite.open();
    const ch = await conn.createChannel();
    await ch.confirmSelect();
    const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
    const deliveries: Delivery[] = [];
    await ch.basicConsume({ queue, noAck: true }, (d) => deliveries.push(d));
    await ch.basicPublish({ routingKey: queue }, Buffer.from([1, 2, 3]), allProperties(everyTypeHeaders()));
    await ch.basicPublish({ routingKey: queue }, '', {});
    await waitFor(() => deliveries.length === 2, 'two deliveries');
    const [first, second] = deliveries;
    expect(first!.properties.timestamp).toStrictEqual(new Date('2023-11-14T22:13:20.000Z'));
    expect(first!.properties.userId).toBe('guest');
    expect(first!.properties.clusterId).toBe('cluster-a');
    expectHeaders(first!.properties.headers, everyTypeExpected());
    expect([...first!.body]).toEqual([1, 2, 3]);
    // No properties set: none come back, and an empty body is an empty Buffer.
    expect(second!.properties).toStrictEqual({});
    expect(second!.body.length).toBe(0);
  });

  it('sends each header with the wire tag of the mapping and RabbitMQ hands back the same tags', async () => {
    const tap = await tappedSocket();
    const conn = await suite.open({ stream: tap.socket });
    const ch = await conn.createChannel();
    await ch.confirmSelect();
    const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
    const headers = everyTypeHeaders();
    await ch.basicPublish({ routingKey: queue }, 'x', { headers });
    tap.reset();
    const got = await ch.basicGet({ queue, noAck: true });
    expect(got).not.toBeNull();
    const bytes = tap.received();
    const keys = Object.keys(headers).filter((k) => k !== 'skipped_undefined');
    const tags = Object.fromEntries(keys.map((k) => [k, wireTag(bytes, k)]));
    // Each key is prefixed with the tag it should carry.
    expect(tags).toStrictEqual(Object.fromEntries(keys.map((k) => [k, k[0]])));
    expect(wireTag(bytes, 'skipped_undefined')).toBe('(missing)');
  });

  it('dead-lettering (which makes RabbitMQ re-encode the headers) keeps every value and tag', async () => {
    const tap = await tappedSocket();
    const conn = await suite.open({ stream: tap.socket });
    const ch = await conn.createChannel();
    await ch.confirmSelect();
    const { queue: dlq } = await ch.queueDeclare({ queue: '', exclusive: true });
    const { queue } = await ch.queueDeclare({
      queue: '',
      exclusive: true,
      arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq },
    });
    const headers = everyTypeHeaders();
    const props = allProperties(headers);
    await ch.basicPublish({ routingKey: queue }, 'dead', props);
    const first = await ch.basicGet({ queue });
    expect(first).not.toBeNull();
    tap.reset();
    ch.basicReject(first!.deliveryTag, { requeue: false });
    let dead = await ch.basicGet({ queue: dlq, noAck: true });
    for (let i = 0; dead === null && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 20));
      dead = await ch.basicGet({ queue: dlq, noAck: true });
    }
    expect(dead).not.toBeNull();
    const h = dead!.properties.headers!;
    const ours = Object.fromEntries(Object.entries(h).filter(([k]) => !k.startsWith('x-')));
    expectHeaders(ours, everyTypeExpected());
    // The broker's additions: x-death with a 64-bit count (bigint), the reason, and the first-death fields.
    expect(h['x-first-death-reason']).toBe('rejected');
    expect(h['x-first-death-queue']).toBe(queue);
    const death = (h['x-death'] as FieldTable[])[0]!;
    expect(death).toMatchObject({ count: 1n, reason: 'rejected', queue, exchange: '', 'routing-keys': [queue] });
    expect(death.time).toBeInstanceOf(Date);
    // ... and it moves the per-message TTL into x-death instead of keeping `expiration`.
    expect(dead!.properties.expiration).toBeUndefined();
    expect(death['original-expiration']).toBe('60000');
    const { expiration: _e, headers: _h, ...unchanged } = props;
    const { headers: _h2, ...deadRest } = dead!.properties;
    expect(deadRest).toStrictEqual(unchanged);
    // Every re-encoded value keeps the tag it was published with.
    const bytes = tap.received();
    const keys = Object.keys(headers).filter((k) => k !== 'skipped_undefined');
    const tags = Object.fromEntries(keys.map((k) => [k, wireTag(bytes, k)]));
    expect(tags).toStrictEqual(Object.fromEntries(keys.map((k) => [k, k[0]])));
    expect(wireTag(bytes, 'count')).toBe('l');
  });

  it('a basic.return carries the properties and body back unchanged', async () => {
    const conn = await suite.open();
    const ch = await conn.createChannel();
    await ch.confirmSelect();
    const returned = nextEvent<[{ properties: BasicProperties; body: Buffer }]>(ch, 'return');
    await ch.basicPublish(
      { routingKey: 'warren-test.no-such-queue', mandatory: true },
      'back',
      allProperties(everyTypeHeaders()),
    );
    const [message] = await returned;
    expectHeaders(message.properties.headers, everyTypeExpected());
    expect(message.properties.messageId).toBe('msg-1');
    expect(message.body.toString()).toBe('back');
  });

  // RabbitMQ (Erlang floats) cannot decode NaN or ±Infinity: a header holding one makes the broker close
  // the whole connection with 541 INTERNAL_ERROR (no reply text naming the cause).
  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['float NaN', typed('f', Number.NaN)],
  ])('a %s header makes RabbitMQ close the connection with 541 INTERNAL_ERROR', async (_label, value) => {
    const conn = await suite.open();
    const ch = await conn.createChannel();
    await ch.confirmSelect();
    const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
    const closed = nextEvent<[unknown]>(conn, 'close');
    const err = await ch.basicPublish({ routingKey: queue }, 'x', { headers: { bad: value } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    const [connErr] = await closed;
    expect(connErr).toBeInstanceOf(ConnectionError);
    expect((connErr as ConnectionError).replyCode).toBe(541);
    expect((connErr as ConnectionError).code).toBe('INTERNAL_ERROR');
    expect(conn.state).toBe('closed');
  });

  it('RabbitMQ refuses a userId that is not the connection user (406 on basic.publish)', async () => {
    const conn = await suite.open();
    const ch = await conn.createChannel();
    const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
    const closed = nextEvent<[unknown]>(ch, 'close');
    await ch.basicPublish({ routingKey: queue }, 'x', { userId: 'someone-else' });
    const [err] = await closed;
    expect(err).toBeInstanceOf(ChannelError);
    expect((err as ChannelError).replyCode).toBe(406);
    expect((err as ChannelError).methodName).toBe('basic.publish');
  });
});
