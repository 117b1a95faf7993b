/**
 * Every AMQP method: round trip through writeMethodFrame → FrameDecoder with a hand-written sample per
 * method, packed-bit patterns, spec defaults, and golden byte vectors computed by hand from the spec.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  BufferWriter,
  type Frame,
  FrameDecoder,
  frameObjects,
  METHODS,
  type MethodArgs,
  type MethodInputs,
  type MethodName,
  type ProtocolError,
  writeBasicAckFrame,
  writeMethodFrame,
  writePublish,
} from '../../../src/protocol/index.js';

// ---------------------------------------------------------------------------------------------------------
// The spec, read independently of the generator.

interface JsonArg {
  name: string;
  type?: string;
  domain?: string;
  'default-value'?: unknown;
}
interface JsonMethod {
  name: string;
  id: number;
  synchronous?: boolean;
  content?: boolean;
  arguments: JsonArg[];
}
interface JsonClass {
  name: string;
  id: number;
  methods: JsonMethod[];
}
interface JsonSpec {
  domains: [string, string][];
  classes: JsonClass[];
}

const SPEC = JSON.parse(
  readFileSync(new URL('../../../spec/amqp-rabbitmq-0.9.1.json', import.meta.url), 'utf8'),
) as JsonSpec;
const SPOKEN_CLASSES = ['connection', 'channel', 'exchange', 'queue', 'basic', 'tx', 'confirm'];
const DOMAINS = new Map(SPEC.domains);

function camel(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** The primitive type of an argument, following domain aliases. */
function primitive(arg: JsonArg): string {
  if (arg.type) return arg.type;
  let t = arg.domain!;
  while (DOMAINS.has(t) && DOMAINS.get(t) !== t) t = DOMAINS.get(t)!;
  return t;
}

interface SpecMethod {
  name: MethodName;
  classId: number;
  methodId: number;
  synchronous: boolean;
  content: boolean;
  args: { field: string; type: string; hasDefault: boolean; defaultValue: unknown }[];
}

const SPEC_METHODS: SpecMethod[] = SPEC.classes
  .filter((c) => SPOKEN_CLASSES.includes(c.name))
  .flatMap((c) =>
    c.methods.map((m) => ({
      name: `${c.name}.${m.name}` as MethodName,
      classId: c.id,
      methodId: m.id,
      synchronous: m.synchronous === true,
      content: m.content === true,
      args: m.arguments.map((a) => ({
        field: camel(a.name),
        type: primitive(a),
        hasDefault: 'default-value' in a,
        defaultValue: a['default-value'],
      })),
    })),
  );

// ---------------------------------------------------------------------------------------------------------
// Helpers

function hex(...parts: string[]): Buffer {
  const s = parts.join('').replace(/\s+/g, '');
  if (!/^([0-9a-f]{2})*$/i.test(s)) throw new Error(`bad hex literal: ${s}`);
  return Buffer.from(s, 'hex');
}

function decodeAll(bytes: Buffer): { frames: Frame[]; errors: ProtocolError[] } {
  const frames: Frame[] = [];
  const errors: ProtocolError[] = [];
  const decoder = new FrameDecoder(
    frameObjects(
      (f) => frames.push(f),
      (e) => errors.push(e),
    ),
    1 << 20,
  );
  decoder.push(bytes);
  return { frames, errors };
}

function encodeMethod<N extends MethodName>(name: N, args: MethodInputs[N], channel = 1): Buffer {
  const w = new BufferWriter(256);
  writeMethodFrame(w, channel, name, args);
  const out = w.take();
  if (out === null) throw new Error('nothing encoded');
  return Buffer.from(out);
}

function roundTrip<N extends MethodName>(name: N, args: MethodInputs[N], channel = 1): unknown {
  const { frames, errors } = decodeAll(encodeMethod(name, args, channel));
  expect(errors).toEqual([]);
  expect(frames).toHaveLength(1);
  const frame = frames[0]!;
  if (frame.type !== 1) throw new Error(`expected a method frame, got type ${frame.type}`);
  expect(frame.channel).toBe(channel);
  return frame.method;
}

// ---------------------------------------------------------------------------------------------------------
// One sample per method, every argument given, values chosen away from the spec defaults.

const clientProperties = {
  product: 'warren',
  version: '0.1.0',
  platform: 'Node.js',
  capabilities: { publisher_confirms: true, 'basic.nack': true, consumer_cancel_notify: false },
  connection_name: 'orders-service ✓',
  'large-int': 3000000000n, // beyond int32: written as 'l', read back as bigint
  pi: 3.25,
  nothing: null,
  list: ['a', 70000, false, { deep: 'yes' }],
};

const SAMPLES: { [N in MethodName]: MethodArgs[N] } = {
  'connection.start': {
    versionMajor: 1,
    versionMinor: 2,
    serverProperties: { product: 'RabbitMQ', capabilities: { exchange_exchange_bindings: true }, cluster_name: 'c@h' },
    mechanisms: 'AMQPLAIN PLAIN EXTERNAL',
    locales: 'de_DE en_US',
  },
  'connection.start-ok': {
    clientProperties,
    mechanism: 'AMQPLAIN',
    response: '\u0000user\u0000pässword',
    locale: 'fr_FR',
  },
  'connection.secure': { challenge: 'challenge-bytes' },
  'connection.secure-ok': { response: 'response-bytes' },
  'connection.tune': { channelMax: 2047, frameMax: 131072, heartbeat: 60 },
  'connection.tune-ok': { channelMax: 65535, frameMax: 4294967295, heartbeat: 65535 },
  'connection.open': { virtualHost: '/production', capabilities: 'caps', insist: true },
  'connection.open-ok': { knownHosts: 'rabbit-1:5672,rabbit-2:5672' },
  'connection.close': { replyCode: 320, replyText: 'CONNECTION_FORCED - broker shutdown', classId: 60, methodId: 40 },
  'connection.close-ok': {},
  'connection.blocked': { reason: 'low on memory' },
  'connection.unblocked': {},
  'connection.update-secret': { newSecret: 'eyJhbGciOi.new.token', reason: 'token refresh' },
  'connection.update-secret-ok': {},
  'channel.open': { outOfBand: 'oob' },
  'channel.open-ok': { channelId: 'channel-id-42' },
  'channel.flow': { active: true },
  'channel.flow-ok': { active: true },
  'channel.close': { replyCode: 406, replyText: 'PRECONDITION_FAILED - inequivalent arg', classId: 50, methodId: 10 },
  'channel.close-ok': {},
  'exchange.declare': {
    ticket: 7,
    exchange: 'orders.topic',
    type: 'topic',
    passive: false,
    durable: true,
    autoDelete: false,
    internal: true,
    nowait: true,
    arguments: { 'alternate-exchange': 'orders.unrouted' },
  },
  'exchange.declare-ok': {},
  'exchange.delete': { ticket: 1, exchange: 'old', ifUnused: true, nowait: true },
  'exchange.delete-ok': {},
  'exchange.bind': {
    ticket: 2,
    destination: 'dst',
    source: 'src',
    routingKey: 'a.*.#',
    nowait: true,
    arguments: { 'x-match': 'any', region: 'eu' },
  },
  'exchange.bind-ok': {},
  'exchange.unbind': {
    ticket: 3,
    destination: 'dst2',
    source: 'src2',
    routingKey: 'b.#',
    nowait: true,
    arguments: { k: [1, 'two', null] },
  },
  'exchange.unbind-ok': {},
  'queue.declare': {
    ticket: 4,
    queue: 'orders',
    passive: false,
    durable: true,
    exclusive: true,
    autoDelete: false,
    nowait: true,
    arguments: {
      'x-queue-type': 'quorum',
      'x-max-length': 1000000,
      'x-message-ttl': 60000,
      'x-dead-letter-exchange': '',
    },
  },
  'queue.declare-ok': { queue: 'amq.gen-JzTY20BRgKO-HjmUJj0wLg', messageCount: 4294967295, consumerCount: 12 },
  'queue.bind': {
    ticket: 5,
    queue: 'q',
    exchange: 'e',
    routingKey: 'rk',
    nowait: true,
    arguments: { 'x-match': 'all', n: -5 },
  },
  'queue.bind-ok': {},
  'queue.purge': { ticket: 6, queue: 'purge-me', nowait: true },
  'queue.purge-ok': { messageCount: 42 },
  'queue.delete': { ticket: 8, queue: 'delete-me', ifUnused: true, ifEmpty: false, nowait: true },
  'queue.delete-ok': { messageCount: 7 },
  'queue.unbind': { ticket: 9, queue: 'q', exchange: 'e', routingKey: 'rk2', arguments: { z: false } },
  'queue.unbind-ok': {},
  'basic.qos': { prefetchSize: 1048576, prefetchCount: 250, global: true },
  'basic.qos-ok': {},
  'basic.consume': {
    ticket: 10,
    queue: 'work',
    consumerTag: 'ctag-1',
    noLocal: true,
    noAck: false,
    exclusive: true,
    nowait: false,
    arguments: { 'x-priority': 10, 'x-stream-offset': 'first' },
  },
  'basic.consume-ok': { consumerTag: 'ctag-1' },
  'basic.cancel': { consumerTag: 'ctag-2', nowait: true },
  'basic.cancel-ok': { consumerTag: 'ctag-2' },
  'basic.publish': { ticket: 11, exchange: 'ex', routingKey: 'r.k', mandatory: true, immediate: true },
  'basic.return': { replyCode: 312, replyText: 'NO_ROUTE', exchange: 'ex', routingKey: 'nowhere' },
  'basic.deliver': {
    consumerTag: 'ctag-3',
    deliveryTag: Number.MAX_SAFE_INTEGER,
    redelivered: true,
    exchange: 'ex',
    routingKey: 'rk',
  },
  'basic.get': { ticket: 12, queue: 'polled', noAck: true },
  'basic.get-ok': { deliveryTag: 2 ** 32 + 5, redelivered: true, exchange: 'ex', routingKey: 'rk', messageCount: 3 },
  'basic.get-empty': { clusterId: 'cluster-x' },
  'basic.ack': { deliveryTag: 99, multiple: true },
  'basic.reject': { deliveryTag: 100, requeue: false },
  'basic.recover-async': { requeue: true },
  'basic.recover': { requeue: true },
  'basic.recover-ok': {},
  'basic.nack': { deliveryTag: 101, multiple: true, requeue: false },
  'tx.select': {},
  'tx.select-ok': {},
  'tx.commit': {},
  'tx.commit-ok': {},
  'tx.rollback': {},
  'tx.rollback-ok': {},
  'confirm.select': { nowait: true },
  'confirm.select-ok': {},
};

const ALL_NAMES = Object.keys(METHODS) as MethodName[];

// ---------------------------------------------------------------------------------------------------------

describe('METHODS against the spec JSON', () => {
  it('has exactly the methods of classes connection, channel, exchange, queue, basic, tx, confirm', () => {
    const expectedCount = SPEC.classes
      .filter((c) => SPOKEN_CLASSES.includes(c.name))
      .reduce((n, c) => n + c.methods.length, 0);
    expect(expectedCount).toBe(64);
    expect(ALL_NAMES).toHaveLength(expectedCount);
    expect([...ALL_NAMES].sort()).toEqual(SPEC_METHODS.map((m) => m.name).sort());
    // The deprecated access class is not spoken.
    expect(ALL_NAMES.some((n) => n.startsWith('access.'))).toBe(false);
  });

  it.each(SPEC_METHODS)('$name has the spec class/method ids and flags', (m) => {
    const info = METHODS[m.name];
    expect(info).toEqual({
      name: m.name,
      classId: m.classId,
      methodId: m.methodId,
      synchronous: m.synchronous,
      content: m.content,
    });
  });

  it('the sample table covers every method and, per method, exactly the spec arguments', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual([...ALL_NAMES].sort());
    for (const m of SPEC_METHODS) {
      expect(Object.keys(SAMPLES[m.name]).sort(), m.name).toEqual(m.args.map((a) => a.field).sort());
    }
  });

  it('sample values differ from the spec defaults where the argument is not a bit', () => {
    for (const m of SPEC_METHODS) {
      const sample = SAMPLES[m.name] as Record<string, unknown>;
      for (const a of m.args) {
        if (!a.hasDefault || a.type === 'bit') continue;
        expect(sample[a.field], `${m.name} ${a.field}`).not.toEqual(a.defaultValue);
      }
    }
  });
});

describe('round trip of every method', () => {
  it.each(ALL_NAMES)('%s', (name) => {
    const args = SAMPLES[name];
    const decoded = roundTrip(name, args as never, 3);
    expect(decoded).toStrictEqual({ name, ...args });
  });

  it('round trips on channel 0 and on the highest channel number', () => {
    for (const channel of [0, 65535]) {
      expect(roundTrip('basic.ack', { deliveryTag: 1, multiple: false }, channel)).toEqual({
        name: 'basic.ack',
        deliveryTag: 1,
        multiple: false,
      });
    }
  });

  it('one buffer holding every method decodes to all of them, in order', () => {
    const w = new BufferWriter(64);
    ALL_NAMES.forEach((name, i) => {
      writeMethodFrame(w, i, name, SAMPLES[name] as never);
    });
    const { frames, errors } = decodeAll(Buffer.from(w.take()!));
    expect(errors).toEqual([]);
    expect(frames.map((f) => (f.type === 1 ? [f.channel, f.method] : f))).toStrictEqual(
      ALL_NAMES.map((name, i) => [i, { name, ...SAMPLES[name] }]),
    );
  });
});

describe('packed bits', () => {
  const withBits = SPEC_METHODS.filter((m) => m.args.some((a) => a.type === 'bit'));

  it('covers the methods that pack several bits into one octet', () => {
    const multi = withBits.filter((m) => m.args.filter((a) => a.type === 'bit').length > 1).map((m) => m.name);
    expect(multi).toEqual(
      expect.arrayContaining(['exchange.declare', 'queue.declare', 'queue.delete', 'basic.consume', 'basic.nack']),
    );
  });

  it.each(withBits)('$name: every combination of its bits round trips', (m) => {
    const bits = m.args.filter((a) => a.type === 'bit').map((a) => a.field);
    for (let mask = 0; mask < 1 << bits.length; mask++) {
      const args: Record<string, unknown> = { ...SAMPLES[m.name] };
      bits.forEach((field, i) => {
        args[field] = (mask & (1 << i)) !== 0;
      });
      expect(roundTrip(m.name, args as never), `${m.name} mask ${mask}`).toStrictEqual({ name: m.name, ...args });
    }
  });

  it.each(withBits)('$name: the n-th consecutive bit is bit n of one shared octet', (m) => {
    const bits = m.args.filter((a) => a.type === 'bit').map((a) => a.field);
    const base: Record<string, unknown> = { ...SAMPLES[m.name] };
    for (const f of bits) base[f] = false;
    const none = encodeMethod(m.name, base as never);
    bits.forEach((field, i) => {
      const one = encodeMethod(m.name, { ...base, [field]: true } as never);
      expect(one.length).toBe(none.length);
      const diffs = [...one.keys()].filter((k) => one[k] !== none[k]);
      expect(diffs, `${m.name} ${field}`).toHaveLength(1);
      expect(none[diffs[0]!]).toBe(0);
      expect(one[diffs[0]!], `${m.name} ${field}`).toBe(1 << i);
    });
  });
});

describe('spec defaults', () => {
  it.each(SPEC_METHODS.filter((m) => m.args.some((a) => a.hasDefault)))(
    '$name: arguments left out are encoded as their spec default',
    (m) => {
      const sample = SAMPLES[m.name] as Record<string, unknown>;
      const minimal: Record<string, unknown> = {};
      const expected: Record<string, unknown> = { name: m.name };
      for (const a of m.args) {
        if (a.hasDefault) {
          expected[a.field] = a.defaultValue;
        } else {
          minimal[a.field] = sample[a.field];
          expected[a.field] = sample[a.field];
        }
      }
      expect(roundTrip(m.name, minimal as never)).toStrictEqual(expected);
    },
  );

  it('bits whose default is true (basic.reject/nack requeue) stay false when given false', () => {
    expect(roundTrip('basic.reject', { deliveryTag: 1 })).toMatchObject({ requeue: true });
    expect(roundTrip('basic.reject', { deliveryTag: 1, requeue: false })).toMatchObject({ requeue: false });
    expect(roundTrip('basic.nack', {})).toMatchObject({ requeue: true, multiple: false });
    expect(roundTrip('basic.nack', { requeue: false })).toMatchObject({ requeue: false });
  });
});

// ---------------------------------------------------------------------------------------------------------
// Golden vectors: bytes written out by hand from the spec's frame and argument layout
// (frame = type:octet channel:short size:long payload frame-end:0xce; method payload = class:short method:short args).

describe('golden byte vectors', () => {
  it('connection.start-ok with a small client properties table, PLAIN, "\\0guest\\0guest", en_US', () => {
    const expected = hex(
      '01', //                       frame type 1 (method)
      '0000', //                     channel 0
      '0000003e', //                 payload size 62
      '000a 000b', //                class 10 (connection), method 11 (start-ok)
      '0000001a', //                 client-properties: table of 26 bytes
      '07 70726f64756374', //          key "product"
      '53 00000006 77617272656e', //   'S' longstr "warren"
      '01 76', //                      key "v"
      '49 00000001', //                'I' int32 1
      '05 504c41494e', //            mechanism: shortstr "PLAIN"
      '0000000c 00677565737400677565737 4', // response: longstr "\0guest\0guest" (12 bytes)
      '05 656e5f5553', //            locale: shortstr "en_US"
      'ce', //                       frame-end
    );
    const actual = encodeMethod(
      'connection.start-ok',
      {
        clientProperties: { product: 'warren', v: 1 },
        mechanism: 'PLAIN',
        response: '\u0000guest\u0000guest',
        locale: 'en_US',
      },
      0,
    );
    expect(actual.toString('hex')).toBe(expected.toString('hex'));
    // Defaults give the same bytes.
    expect(
      encodeMethod(
        'connection.start-ok',
        { clientProperties: { product: 'warren', v: 1 }, response: '\0guest\0guest' },
        0,
      ),
    ).toEqual(expected);
    expect(decodeAll(expected).frames).toEqual([
      {
        type: 1,
        channel: 0,
        method: {
          name: 'connection.start-ok',
          clientProperties: { product: 'warren', v: 1 },
          mechanism: 'PLAIN',
          response: '\0guest\0guest',
          locale: 'en_US',
        },
      },
    ]);
  });

  const publishFrame = hex(
    '01', //         method frame
    '0001', //       channel 1
    '0000000d', //   payload size 13
    '003c 0028', //  class 60 (basic), method 40 (publish)
    '0000', //       ticket 0
    '02 6578', //    exchange: shortstr "ex"
    '02 726b', //    routing-key: shortstr "rk"
    '01', //         bits: mandatory (bit 0) = 1, immediate (bit 1) = 0
    'ce',
  );

  it('basic.publish exchange "ex", routing key "rk", mandatory', () => {
    expect(encodeMethod('basic.publish', { exchange: 'ex', routingKey: 'rk', mandatory: true }).toString('hex')).toBe(
      publishFrame.toString('hex'),
    );
    expect(decodeAll(publishFrame).frames).toEqual([
      {
        type: 1,
        channel: 1,
        method: {
          name: 'basic.publish',
          ticket: 0,
          exchange: 'ex',
          routingKey: 'rk',
          mandatory: true,
          immediate: false,
        },
      },
    ]);
  });

  it('a content header with all 14 property flags set (via writePublish)', () => {
    const header = hex(
      '02', //                 frame type 2 (content header)
      '0001', //               channel 1
      '00000048', //           payload size 72
      '003c', //               class 60
      '0000', //               weight 0
      '0000000000000002', //   body size 2
      'fffc', //               property flags: bits 15..2 set (14 properties), bit 0 (continuation) clear
      '03 612f62', //          content-type "a/b"
      '02 677a', //            content-encoding "gz"
      '00000007 01 78 49 00000001', // headers: table of 7 bytes { x: int32 1 }
      '02', //                 delivery-mode 2
      '09', //                 priority 9
      '02 6331', //            correlation-id "c1"
      '02 7271', //            reply-to "rq"
      '05 3630303030', //      expiration "60000"
      '02 6d31', //            message-id "m1"
      '000000006553f100', //   timestamp 1700000000 (seconds)
      '01 74', //              type "t"
      '05 6775657374', //      user-id "guest"
      '03 617070', //          app-id "app"
      '02 636c', //            cluster-id "cl"
      'ce',
    );
    const body = hex('03', '0001', '00000002', '6869', 'ce'); // body frame "hi"
    const properties = {
      contentType: 'a/b',
      contentEncoding: 'gz',
      headers: { x: 1 },
      deliveryMode: 2,
      priority: 9,
      correlationId: 'c1',
      replyTo: 'rq',
      expiration: '60000',
      messageId: 'm1',
      timestamp: new Date(1700000000 * 1000),
      type: 't',
      userId: 'guest',
      appId: 'app',
      clusterId: 'cl',
    };
    const w = new BufferWriter(64);
    const chunks = writePublish(
      w,
      1,
      { exchange: 'ex', routingKey: 'rk', mandatory: true },
      properties,
      Buffer.from('hi'),
      4096,
    );
    expect(chunks).toBeNull();
    const expected = Buffer.concat([publishFrame, header, body]);
    expect(Buffer.from(w.take()!).toString('hex')).toBe(expected.toString('hex'));

    const { frames, errors } = decodeAll(expected);
    expect(errors).toEqual([]);
    expect(frames[1]).toEqual({ type: 2, channel: 1, classId: 60, bodySize: 2, properties });
  });

  it('queue.declare with durable and autoDelete', () => {
    const expected = hex(
      '01 0001 0000000d', // method frame, channel 1, 13 bytes
      '0032 000a', //        class 50 (queue), method 10 (declare)
      '0000', //             ticket
      '01 71', //            queue "q"
      '0a', //               bits: passive 1, durable 2, exclusive 4, auto-delete 8, no-wait 16 → durable|auto-delete
      '00000000', //         arguments: empty table
      'ce',
    );
    expect(encodeMethod('queue.declare', { queue: 'q', durable: true, autoDelete: true }).toString('hex')).toBe(
      expected.toString('hex'),
    );
    expect(decodeAll(expected).frames[0]).toMatchObject({
      method: { name: 'queue.declare', queue: 'q', passive: false, durable: true, exclusive: false, autoDelete: true },
    });
  });

  it('basic.nack multiple=true requeue=false', () => {
    const expected = hex(
      '01 0001 0000000d', // method frame, channel 1, 13 bytes
      '003c 0078', //        class 60, method 120 (nack)
      '0000000102030405', // delivery-tag 0x0102030405
      '01', //               bits: multiple 1, requeue 2 → multiple only
      'ce',
    );
    expect(
      encodeMethod('basic.nack', { deliveryTag: 0x0102030405, multiple: true, requeue: false }).toString('hex'),
    ).toBe(expected.toString('hex'));
    expect(decodeAll(expected).frames[0]).toEqual({
      type: 1,
      channel: 1,
      method: { name: 'basic.nack', deliveryTag: 0x0102030405, multiple: true, requeue: false },
    });
    // requeue defaults to true: bit 1 set.
    expect(encodeMethod('basic.nack', { deliveryTag: 0x0102030405, multiple: true })[19]).toBe(0x03);
    expect(encodeMethod('basic.nack', { deliveryTag: 0x0102030405 })[19]).toBe(0x02);
  });
});

describe('writeBasicAckFrame (the hand-written basic.ack fast path)', () => {
  it('writes the spec bytes', () => {
    const w = new BufferWriter(32);
    writeBasicAckFrame(w, 1, 0x0102030405, true);
    expect(Buffer.from(w.take()!).toString('hex')).toBe(
      hex(
        '01 0001 0000000d', // method frame, channel 1, 13 bytes
        '003c 0050', //        class 60, method 80 (ack)
        '0000000102030405', // delivery-tag
        '01', //               multiple
        'ce',
      ).toString('hex'),
    );
  });

  it('is byte-identical to the generic encoder', () => {
    for (const [channel, tag, multiple] of [
      [0, 0, false],
      [1, 1, true],
      [65535, 2 ** 32, false],
      [7, Number.MAX_SAFE_INTEGER, true],
    ] as const) {
      const fast = new BufferWriter(8);
      writeBasicAckFrame(fast, channel, tag, multiple);
      expect(Buffer.from(fast.take()!)).toEqual(encodeMethod('basic.ack', { deliveryTag: tag, multiple }, channel));
    }
  });

  it('refuses a delivery tag that is not a non-negative safe integer, writing nothing', () => {
    const w = new BufferWriter(8);
    for (const tag of [-1, 1.5, 2 ** 53, Number.NaN]) {
      expect(() => writeBasicAckFrame(w, 1, tag, false)).toThrow(/deliveryTag/);
      expect(w.pending).toBe(0);
    }
  });
});

describe('short strings decode correctly whatever the decoder caches', () => {
  function deliverFrame(routingKey: Buffer): Buffer {
    // basic.deliver: consumer-tag "c", delivery-tag 1, redelivered 0, exchange "", routing-key <bytes>
    const payload = Buffer.concat([
      hex('003c 003c', '01 63', '0000000000000001', '00', '00'),
      Buffer.from([routingKey.length]),
      routingKey,
    ]);
    const head = Buffer.alloc(7);
    head[0] = 1;
    head.writeUInt16BE(1, 1);
    head.writeUInt32BE(payload.length, 3);
    return Buffer.concat([head, payload, hex('ce')]);
  }
  function routingKeyOf(bytes: Buffer): string {
    const { frames, errors } = decodeAll(deliverFrame(bytes));
    expect(errors).toEqual([]);
    const f = frames[0]!;
    if (f.type !== 1 || f.method.name !== 'basic.deliver') throw new Error('expected basic.deliver');
    return f.method.routingKey;
  }

  it('ASCII strings of the same length and same first, middle and last bytes stay distinct', () => {
    // Strings like "a?m?z" agree on length and on the bytes a hash of first/middle/last would use.
    const keys: string[] = [];
    for (let i = 0; i < 400; i++) {
      const x = String.fromCharCode(33 + (i % 90));
      const y = String.fromCharCode(33 + Math.floor(i / 90));
      keys.push(`a${x}m${y}z`);
    }
    for (let round = 0; round < 2; round++) {
      for (const k of keys) expect(routingKeyOf(Buffer.from(k))).toBe(k);
    }
  });

  it('non-ASCII and invalid UTF-8 short strings are not confused with cached ASCII ones', () => {
    const cases: [Buffer, string][] = [
      [Buffer.from('ab'), 'ab'],
      [Buffer.from([0xff, 0x62]), '\ufffdb'],
      [Buffer.from('ab'), 'ab'],
      [Buffer.from([0x61, 0xff]), 'a\ufffd'],
      [Buffer.from('aé'), 'aé'],
      [Buffer.from([0xc3, 0xa9]), 'é'],
      [Buffer.from('ab'), 'ab'],
    ];
    for (let round = 0; round < 3; round++) {
      for (const [bytes, expected] of cases) expect(routingKeyOf(bytes)).toBe(expected);
    }
  });

  it('strings around the cache length limit and up to 255 bytes', () => {
    for (const n of [1, 63, 64, 65, 200, 255]) {
      const a = `${'q'.repeat(n - 1)}A`;
      const b = `${'q'.repeat(n - 1)}B`;
      for (let round = 0; round < 2; round++) {
        expect(routingKeyOf(Buffer.from(a))).toBe(a);
        expect(routingKeyOf(Buffer.from(b))).toBe(b);
      }
    }
    expect(routingKeyOf(Buffer.alloc(0))).toBe('');
  });
});
