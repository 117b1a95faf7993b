/**
 * Differential tests against amqplib's codec (amqplib/lib/defs.js, codec.js, frame.js): bytes warren writes
 * decode identically with amqplib, and bytes amqplib writes decode identically with warren, for every
 * method, all 14 content properties and field tables.
 *
 * Where the two libraries represent a value differently, the difference is asserted explicitly (so a
 * change on either side shows up here) and explained in a comment; nothing is normalized away silently.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type BasicProperties,
  BufferReader,
  BufferWriter,
  Decimal,
  type FieldTable,
  type Frame,
  FrameDecoder,
  frameObjects,
  METHODS,
  type MethodArgs,
  type MethodName,
  type ProtocolError,
  readTable,
  typed,
  writeMethodFrame,
  writePublish,
  writeTable,
} from '../../../src/protocol/index.js';

// ---------------------------------------------------------------------------------------------------------
// amqplib's internals. Its package.json `exports` hides lib/, so they are required by absolute path.

interface AmqplibArgInfo {
  type: string;
  name: string;
  default?: unknown;
}
interface AmqplibDefs {
  encodeMethod(id: number, channel: number, fields: Record<string, unknown>): Buffer;
  encodeProperties(id: number, channel: number, size: number, fields: Record<string, unknown>): Buffer;
  decode(id: number, buf: Buffer): Record<string, unknown>;
  info(id: number): { id: number; classId: number; methodId: number; name: string; args: AmqplibArgInfo[] };
}
interface AmqplibCodec {
  encodeTable(buffer: Buffer, val: unknown, offset: number): number;
  decodeFields(slice: Buffer): Record<string, unknown>;
}
interface AmqplibParsedFrame {
  type: number;
  channel: number;
  size: number;
  payload: Buffer;
  rest: Buffer;
}
interface AmqplibFrame {
  parseFrame(bin: Buffer, max: number): AmqplibParsedFrame | false;
  decodeFrame(frame: AmqplibParsedFrame): {
    id?: number;
    channel: number;
    size?: number;
    fields?: Record<string, unknown>;
    content?: Buffer;
  };
}

const require = createRequire(import.meta.url);
const amqplibDir = dirname(require.resolve('amqplib'));
const defs = require(join(amqplibDir, 'lib/defs.js')) as AmqplibDefs;
const codec = require(join(amqplibDir, 'lib/codec.js')) as AmqplibCodec;
const amqpFrame = require(join(amqplibDir, 'lib/frame.js')) as AmqplibFrame;

// ---------------------------------------------------------------------------------------------------------
// Helpers

function hex(...parts: string[]): Buffer {
  const s = parts.join('').replace(/\s+/g, '');
  if (!/^([0-9a-f]{2})*$/i.test(s)) throw new Error(`bad hex literal: ${s}`);
  return Buffer.from(s, 'hex');
}

const methodId = (name: MethodName) => (METHODS[name].classId << 16) | METHODS[name].methodId;

/** Decodes a buffer of frames with warren. */
function warrenDecode(bytes: Buffer): Frame[] {
  const frames: Frame[] = [];
  const errors: ProtocolError[] = [];
  const decoder = new FrameDecoder(
    frameObjects(
      (f) => frames.push(f),
      (e) => errors.push(e),
    ),
  );
  decoder.maxFrameSize = 0;
  decoder.push(bytes);
  expect(errors).toEqual([]);
  return frames;
}

/** Decodes a buffer of frames with amqplib's frame parser. */
function amqplibDecode(bytes: Buffer): ReturnType<AmqplibFrame['decodeFrame']>[] {
  const out: ReturnType<AmqplibFrame['decodeFrame']>[] = [];
  let rest = bytes;
  while (rest.length > 0) {
    const parsed = amqpFrame.parseFrame(rest, 0);
    if (parsed === false) throw new Error('amqplib: incomplete frame');
    out.push(amqpFrame.decodeFrame(parsed));
    rest = parsed.rest;
  }
  return out;
}

function warrenMethod(name: MethodName, args: unknown, channel = 1): Buffer {
  const w = new BufferWriter(256);
  writeMethodFrame(w, channel, name, args as never);
  return Buffer.from(w.take()!);
}

/** amqplib wants (and returns) Buffers for longstr arguments; warren uses strings. */
function longstrFields(name: MethodName): string[] {
  return defs
    .info(methodId(name))
    .args.filter((a) => a.type === 'longstr')
    .map((a) => a.name);
}
function toAmqplibArgs(name: MethodName, args: Record<string, unknown>): Record<string, unknown> {
  const out = { ...args };
  for (const f of longstrFields(name)) out[f] = Buffer.from(out[f] as string);
  return out;
}
function fromAmqplibArgs(name: MethodName, fields: Record<string, unknown>): Record<string, unknown> {
  const out = { ...fields };
  for (const f of longstrFields(name)) out[f] = (out[f] as Buffer).toString('utf8');
  return out;
}

function amqplibTable(value: Record<string, unknown>): Buffer {
  const buf = Buffer.alloc(64 * 1024);
  const n = codec.encodeTable(buf, value, 0);
  return Buffer.from(buf.subarray(0, n));
}
function amqplibReadTable(bytes: Buffer): Record<string, unknown> {
  return codec.decodeFields(bytes.subarray(4, 4 + bytes.readUInt32BE(0)));
}
function warrenTable(value: FieldTable): Buffer {
  const w = new BufferWriter(64);
  writeTable(w, value, 'table');
  return Buffer.from(w.take()!);
}
function warrenReadTable(bytes: Buffer): FieldTable {
  const r = new BufferReader(bytes, 0, bytes.length);
  const t = readTable(r);
  expect(r.pos).toBe(bytes.length);
  return t;
}

/** Drops keys whose value is undefined (amqplib's decoded properties list all 14 keys). */
function defined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

// ---------------------------------------------------------------------------------------------------------
// A table both libraries encode to the same bytes and decode to the same values: strings, booleans, null,
// integers in int32 but outside int16 (amqplib picks the narrowest of b/s/I, warren always I), non-integer
// doubles, Buffers, arrays and nested tables.

const COMMON_TABLE = {
  s: 'string',
  u: 'ünïcødé ✓',
  empty: '',
  t: true,
  f: false,
  n: null,
  big: 100000,
  neg: -70000,
  max: 2147483647,
  min: -2147483648,
  frac: 2.5,
  tiny: -1.25e-300,
  bin: Buffer.from([0, 1, 255]),
  arr: ['a', 40000, [true, null], { x: 'y' }],
  nested: { deep: { k: 'v', n: 65536 } },
};

const ARGS: { [N in MethodName]: MethodArgs[N] } = {
  'connection.start': {
    versionMajor: 0,
    versionMinor: 9,
    serverProperties: COMMON_TABLE,
    mechanisms: 'PLAIN AMQPLAIN',
    locales: 'en_US',
  },
  'connection.start-ok': {
    clientProperties: COMMON_TABLE,
    mechanism: 'PLAIN',
    response: '\u0000guest\u0000guest',
    locale: 'en_US',
  },
  'connection.secure': { challenge: 'challenge' },
  'connection.secure-ok': { response: 'response' },
  'connection.tune': { channelMax: 2047, frameMax: 131072, heartbeat: 60 },
  'connection.tune-ok': { channelMax: 65535, frameMax: 4294967295, heartbeat: 0 },
  'connection.open': { virtualHost: '/vh', capabilities: '', insist: true },
  'connection.open-ok': { knownHosts: 'h:5672' },
  'connection.close': { replyCode: 320, replyText: 'CONNECTION_FORCED', classId: 10, methodId: 40 },
  'connection.close-ok': {},
  'connection.blocked': { reason: 'low on memory' },
  'connection.unblocked': {},
  'connection.update-secret': { newSecret: 'token', reason: 'refresh' },
  'connection.update-secret-ok': {},
  'channel.open': { outOfBand: '' },
  'channel.open-ok': { channelId: 'id' },
  'channel.flow': { active: true },
  'channel.flow-ok': { active: false },
  'channel.close': { replyCode: 404, replyText: 'NOT_FOUND - no queue', classId: 50, methodId: 10 },
  'channel.close-ok': {},
  'exchange.declare': {
    ticket: 0,
    exchange: 'orders',
    type: 'topic',
    passive: false,
    durable: true,
    autoDelete: true,
    internal: false,
    nowait: true,
    arguments: COMMON_TABLE,
  },
  'exchange.declare-ok': {},
  'exchange.delete': { ticket: 0, exchange: 'orders', ifUnused: true, nowait: false },
  'exchange.delete-ok': {},
  'exchange.bind': {
    ticket: 0,
    destination: 'd',
    source: 's',
    routingKey: 'a.#',
    nowait: true,
    arguments: { 'x-match': 'all' },
  },
  'exchange.bind-ok': {},
  'exchange.unbind': { ticket: 0, destination: 'd', source: 's', routingKey: 'b.*', nowait: false, arguments: {} },
  'exchange.unbind-ok': {},
  'queue.declare': {
    ticket: 0,
    queue: 'work',
    passive: false,
    durable: true,
    exclusive: false,
    autoDelete: true,
    nowait: false,
    arguments: { 'x-queue-type': 'quorum', 'x-max-length': 1000000, 'x-message-ttl': 60000 },
  },
  'queue.declare-ok': { queue: 'work', messageCount: 4294967295, consumerCount: 3 },
  'queue.bind': { ticket: 0, queue: 'q', exchange: 'e', routingKey: 'rk', nowait: true, arguments: COMMON_TABLE },
  'queue.bind-ok': {},
  'queue.purge': { ticket: 0, queue: 'q', nowait: true },
  'queue.purge-ok': { messageCount: 12 },
  'queue.delete': { ticket: 0, queue: 'q', ifUnused: false, ifEmpty: true, nowait: true },
  'queue.delete-ok': { messageCount: 0 },
  'queue.unbind': { ticket: 0, queue: 'q', exchange: 'e', routingKey: 'rk', arguments: { a: 'b' } },
  'queue.unbind-ok': {},
  'basic.qos': { prefetchSize: 0, prefetchCount: 500, global: true },
  'basic.qos-ok': {},
  'basic.consume': {
    ticket: 0,
    queue: 'q',
    consumerTag: 'amq.ctag-abc',
    noLocal: false,
    noAck: true,
    exclusive: true,
    nowait: false,
    arguments: { 'x-stream-offset': 'first' },
  },
  'basic.consume-ok': { consumerTag: 'amq.ctag-abc' },
  'basic.cancel': { consumerTag: 'amq.ctag-abc', nowait: true },
  'basic.cancel-ok': { consumerTag: 'amq.ctag-abc' },
  'basic.publish': { ticket: 0, exchange: 'ex', routingKey: 'rk', mandatory: true, immediate: false },
  'basic.return': { replyCode: 312, replyText: 'NO_ROUTE', exchange: 'ex', routingKey: 'rk' },
  'basic.deliver': {
    consumerTag: 'amq.ctag-abc',
    deliveryTag: 2 ** 40 + 3,
    redelivered: true,
    exchange: 'ex',
    routingKey: 'rk',
  },
  'basic.get': { ticket: 0, queue: 'q', noAck: true },
  'basic.get-ok': { deliveryTag: 77, redelivered: false, exchange: '', routingKey: 'q', messageCount: 9 },
  'basic.get-empty': { clusterId: '' },
  'basic.ack': { deliveryTag: 123456789, multiple: true },
  'basic.reject': { deliveryTag: 5, requeue: false },
  'basic.recover-async': { requeue: true },
  'basic.recover': { requeue: false },
  'basic.recover-ok': {},
  'basic.nack': { deliveryTag: 6, multiple: true, requeue: false },
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
const REQUIRED_NAMES = ALL_NAMES.filter((n) => /^(basic|queue|exchange)\./.test(n));

// ---------------------------------------------------------------------------------------------------------

describe('method metadata agrees with amqplib', () => {
  it.each(ALL_NAMES)('%s: same id and argument names in the same order', (name) => {
    const info = defs.info(methodId(name));
    expect(info.classId).toBe(METHODS[name].classId);
    expect(info.methodId).toBe(METHODS[name].methodId);
    const decoded = warrenDecode(warrenMethod(name, ARGS[name]))[0]!;
    if (decoded.type !== 1) throw new Error('expected a method frame');
    const { name: _n, ...fields } = decoded.method;
    expect(Object.keys(fields)).toEqual(info.args.map((a) => a.name));
  });
});

describe('methods: warren ⇄ amqplib', () => {
  it('covers every basic, queue and exchange method', () => {
    expect(REQUIRED_NAMES).toHaveLength(18 + 10 + 8);
  });

  it.each(ALL_NAMES)('%s: warren and amqplib write the same bytes', (name) => {
    const ours = warrenMethod(name, ARGS[name], 3);
    const theirs = defs.encodeMethod(methodId(name), 3, toAmqplibArgs(name, ARGS[name] as Record<string, unknown>));
    expect(ours.toString('hex')).toBe(theirs.toString('hex'));
  });

  it.each(ALL_NAMES)('%s: warren bytes decode identically with amqplib', (name) => {
    const [frame, ...more] = amqplibDecode(warrenMethod(name, ARGS[name], 5));
    expect(more).toEqual([]);
    expect(frame!.id).toBe(methodId(name));
    expect(frame!.channel).toBe(5);
    expect(fromAmqplibArgs(name, frame!.fields!)).toEqual(ARGS[name]);
  });

  it.each(ALL_NAMES)('%s: amqplib bytes decode identically with warren', (name) => {
    const bytes = defs.encodeMethod(methodId(name), 5, toAmqplibArgs(name, ARGS[name] as Record<string, unknown>));
    const frames = warrenDecode(bytes);
    expect(frames).toHaveLength(1);
    expect(frames[0]).toEqual({ type: 1, channel: 5, method: { name, ...ARGS[name] } });
  });

  it('bit patterns agree for every combination of queue.declare flags', () => {
    const bits = ['passive', 'durable', 'exclusive', 'autoDelete', 'nowait'] as const;
    for (let mask = 0; mask < 32; mask++) {
      const args: Record<string, unknown> = { ticket: 0, queue: 'q', arguments: {} };
      bits.forEach((b, i) => {
        args[b] = (mask & (1 << i)) !== 0;
      });
      const ours = warrenMethod('queue.declare', args);
      expect(ours).toEqual(defs.encodeMethod(methodId('queue.declare'), 1, args));
      const back = warrenDecode(ours)[0]!;
      expect(back.type === 1 ? back.method : back).toEqual({ name: 'queue.declare', ...args });
    }
  });

  it('defaults agree: both fill in the spec defaults for left-out arguments', () => {
    // Only the arguments without a default are given.
    const cases: [MethodName, Record<string, unknown>][] = [
      ['basic.publish', {}],
      ['basic.nack', {}], // requeue defaults to true
      ['basic.reject', { deliveryTag: 1 }], // requeue defaults to true
      ['queue.declare', {}],
      ['exchange.declare', { exchange: 'x' }],
      ['basic.consume', {}],
      ['connection.open', {}],
      ['connection.tune-ok', {}],
    ];
    for (const [name, args] of cases) {
      expect(warrenMethod(name, args).toString('hex'), name).toBe(
        defs.encodeMethod(methodId(name), 1, args).toString('hex'),
      );
    }
  });
});

describe('content properties: warren ⇄ amqplib', () => {
  const timestampSeconds = 1700000000;
  const warrenProps: BasicProperties = {
    contentType: 'application/json',
    contentEncoding: 'gzip',
    headers: COMMON_TABLE,
    deliveryMode: 2,
    priority: 9,
    correlationId: 'corr-1',
    replyTo: 'amq.rabbitmq.reply-to',
    expiration: '60000',
    messageId: 'msg-1',
    timestamp: new Date(timestampSeconds * 1000),
    type: 'order.created',
    userId: 'guest',
    appId: 'warren-test',
    clusterId: 'c1',
  };
  // amqplib's timestamp property is a plain number written as-is: seconds, by convention. warren's is a
  // Date, written as whole seconds. Everything else is the same.
  const amqplibProps = { ...warrenProps, timestamp: timestampSeconds };

  /** The content header frame warren writes for these properties and a body of `size` bytes. */
  function warrenHeader(props: BasicProperties, size: number, channel: number): Buffer {
    const w = new BufferWriter(256);
    writePublish(w, channel, {}, props, Buffer.alloc(size), 131072);
    const bytes = Buffer.from(w.take()!);
    const methodEnd = 7 + bytes.readUInt32BE(3) + 1;
    return bytes.subarray(methodEnd, methodEnd + 7 + bytes.readUInt32BE(methodEnd + 3) + 1);
  }

  it('all 14 properties: same bytes', () => {
    expect(warrenHeader(warrenProps, 1234, 2).toString('hex')).toBe(
      defs.encodeProperties(60, 2, 1234, amqplibProps).toString('hex'),
    );
  });

  it('each property alone: same bytes', () => {
    for (const key of Object.keys(warrenProps) as (keyof BasicProperties)[]) {
      const ours = warrenHeader({ [key]: warrenProps[key] }, 0, 1);
      const theirs = defs.encodeProperties(60, 1, 0, { [key]: (amqplibProps as Record<string, unknown>)[key] });
      expect(ours.toString('hex'), key).toBe(theirs.toString('hex'));
    }
  });

  it('no properties: same bytes', () => {
    expect(warrenHeader({}, 5, 1)).toEqual(defs.encodeProperties(60, 1, 5, {}));
  });

  it('warren header bytes decode identically with amqplib', () => {
    const [frame] = amqplibDecode(warrenHeader(warrenProps, 42, 7));
    expect(frame!.id).toBe(60);
    expect(frame!.size).toBe(42);
    expect(frame!.channel).toBe(7);
    expect(defined(frame!.fields!)).toEqual(amqplibProps);
  });

  it('amqplib header bytes decode identically with warren', () => {
    const frames = warrenDecode(defs.encodeProperties(60, 7, 42, amqplibProps));
    expect(frames).toEqual([{ type: 2, channel: 7, classId: 60, bodySize: 42, properties: warrenProps }]);
  });

  it('a whole publish from warren parses with amqplib (method, header, body frames)', () => {
    const body = Buffer.alloc(10_000, 0x5a);
    const w = new BufferWriter();
    writePublish(w, 1, { exchange: 'ex', routingKey: 'rk', mandatory: true }, warrenProps, body, 4096);
    const frames = amqplibDecode(Buffer.from(w.take()!));
    expect(frames.map((f) => f.id ?? 'body')).toEqual([methodId('basic.publish'), 60, 'body', 'body', 'body']);
    expect(frames[0]!.fields).toEqual({
      ticket: 0,
      exchange: 'ex',
      routingKey: 'rk',
      mandatory: true,
      immediate: false,
    });
    expect(Buffer.concat(frames.slice(2).map((f) => f.content!))).toEqual(body);
  });
});

describe('field tables: warren ⇄ amqplib', () => {
  it('the common table: same bytes, same values both ways', () => {
    const ours = warrenTable(COMMON_TABLE);
    expect(ours.toString('hex')).toBe(amqplibTable(COMMON_TABLE).toString('hex'));
    expect(amqplibReadTable(ours)).toEqual(COMMON_TABLE);
    expect(warrenReadTable(amqplibTable(COMMON_TABLE))).toEqual(COMMON_TABLE);
  });

  it('small integers: amqplib writes the narrowest of b/s/I, warren always I; both read back the number', () => {
    const table = { a: 1, b: -128, c: 300, d: -32768, e: 32767, z: 0 };
    // Difference in bytes: amqplib { a: 1 } is 'b' 01, warren's is 'I' 00000001.
    expect(amqplibTable({ a: 1 }).toString('hex')).toBe('00000004016162' + '01');
    expect(warrenTable({ a: 1 }).toString('hex')).toBe('000000070161' + '4900000001');
    // Same values.
    expect(warrenReadTable(amqplibTable(table))).toEqual(table);
    expect(amqplibReadTable(warrenTable(table))).toEqual(table);
  });

  it('64-bit integers: warren reads "l" as bigint, amqplib as number (rounded above 2^53)', () => {
    // Integers beyond int32 go out as 'l' from both.
    expect(warrenTable({ x: 2 ** 40 })).toEqual(amqplibTable({ x: 2 ** 40 }));
    // amqplib → warren: bigint.
    expect(warrenReadTable(amqplibTable({ x: 2 ** 40, y: -(2 ** 40) }))).toEqual({ x: 2n ** 40n, y: -(2n ** 40n) });
    // warren → amqplib: number, exact below 2^53 ...
    expect(amqplibReadTable(warrenTable({ x: 2n ** 40n }))).toEqual({ x: 2 ** 40 });
    // ... and rounded above it (warren keeps the exact value).
    const exact = 2n ** 60n + 1n;
    expect(amqplibReadTable(warrenTable({ x: exact }))).toEqual({ x: 2 ** 60 });
    expect(warrenReadTable(warrenTable({ x: exact }))).toEqual({ x: exact });
  });

  it('bigint: amqplib cannot encode it at all', () => {
    expect(() => amqplibTable({ x: 5n })).toThrow(/Unknown type to encode: bigint/);
  });

  it('timestamps: warren Date ⇄ amqplib {"!": "timestamp", value: seconds}', () => {
    const date = new Date(1700000000 * 1000);
    const tagged = { '!': 'timestamp', value: 1700000000 };
    expect(warrenTable({ t: date })).toEqual(amqplibTable({ t: tagged }));
    expect(amqplibReadTable(warrenTable({ t: date }))).toEqual({ t: tagged });
    expect(warrenReadTable(amqplibTable({ t: tagged }))).toEqual({ t: date });
    // amqplib has no Date mapping: a Date is an object with no own keys, written as an empty table 'F'.
    expect(amqplibReadTable(amqplibTable({ t: date }))).toEqual({ t: {} });
  });

  it('decimals: same bytes for non-negative values; amqplib reads the value as unsigned', () => {
    const tagged = (places: number, digits: number) => ({ '!': 'decimal', value: { places, digits } });
    expect(warrenTable({ d: new Decimal(2, 12345) })).toEqual(amqplibTable({ d: tagged(2, 12345) }));
    expect(amqplibReadTable(warrenTable({ d: new Decimal(2, 12345) }))).toEqual({ d: tagged(2, 12345) });
    expect(warrenReadTable(amqplibTable({ d: tagged(2, 12345) }))).toEqual({ d: new Decimal(2, 12345) });
    // The spec's decimal value is a signed long: warren's -1 is 0xffffffff, which amqplib reads as 4294967295
    // (its decoder comment: "only positive decimals, apparently") and cannot write at all.
    expect(amqplibReadTable(warrenTable({ d: new Decimal(2, -1) }))).toEqual({ d: tagged(2, 4294967295) });
    expect(warrenReadTable(amqplibTable({ d: tagged(2, 4294967295) }))).toEqual({ d: new Decimal(2, -1) });
    expect(() => amqplibTable({ d: tagged(2, -1) })).toThrow(RangeError);
  });

  it('explicit types: warren typed() ⇄ amqplib {"!": type, value}', () => {
    const cases: [Parameters<typeof typed>[0], string, number][] = [
      ['b', 'int8', -5],
      ['B', 'uint8', 200],
      ['s', 'int16', -30000],
      ['u', 'uint16', 60000],
      ['I', 'int32', -2000000000],
      ['i', 'uint32', 4000000000],
      ['f', 'float', 1.5],
      ['d', 'double', 0.1],
    ];
    for (const [ours, theirs, value] of cases) {
      const w = warrenTable({ v: typed(ours, value) });
      expect(w.toString('hex'), ours).toBe(amqplibTable({ v: { '!': theirs, value } }).toString('hex'));
      expect(amqplibReadTable(w), ours).toEqual({ v: value });
      expect(warrenReadTable(w), ours).toEqual({ v: value });
    }
    // 'l' forced: amqplib reads a number, warren a bigint.
    const l = warrenTable({ v: typed('l', 7) });
    expect(l).toEqual(amqplibTable({ v: { '!': 'int64', value: 7 } }));
    expect(amqplibReadTable(l)).toEqual({ v: 7 });
    expect(warrenReadTable(l)).toEqual({ v: 7n });
  });

  it('-0, NaN and -Infinity: warren writes doubles; amqplib loses -0 and cannot write NaN or -Infinity', () => {
    const negZero = amqplibReadTable(warrenTable({ z: -0 })).z;
    expect(Object.is(negZero, -0)).toBe(true); // amqplib reads warren's 'd' -0 correctly
    // amqplib writes -0 as the integer 'b' 0: the sign is lost.
    expect(amqplibTable({ z: -0 }).toString('hex')).toBe('00000004017a6200');
    expect(Object.is(warrenReadTable(amqplibTable({ z: -0 })).z, 0)).toBe(true);
    // NaN and -Infinity are not "floating point" to amqplib, which then fails converting them to BigInt.
    expect(() => amqplibTable({ x: Number.NaN })).toThrow(RangeError);
    expect(() => amqplibTable({ x: Number.NEGATIVE_INFINITY })).toThrow(RangeError);
    expect(Number.isNaN(amqplibReadTable(warrenTable({ x: Number.NaN })).x)).toBe(true);
    expect(amqplibReadTable(warrenTable({ x: Number.NEGATIVE_INFINITY })).x).toBe(Number.NEGATIVE_INFINITY);
    // +Infinity is a double to both.
    expect(warrenTable({ x: Number.POSITIVE_INFINITY })).toEqual(amqplibTable({ x: Number.POSITIVE_INFINITY }));
  });

  it('fractions at or above 2^50: warren writes a double, amqplib tries an integer and throws', () => {
    const v = 2 ** 50 + 0.5;
    expect(warrenReadTable(warrenTable({ v }))).toEqual({ v });
    expect(amqplibReadTable(warrenTable({ v }))).toEqual({ v });
    expect(() => amqplibTable({ v })).toThrow(RangeError);
  });

  it('Uint8Array: warren writes bytes (x); amqplib only knows Buffer and writes a table of indexes', () => {
    const u8 = new Uint8Array([1, 2]);
    expect(amqplibReadTable(warrenTable({ b: u8 }))).toEqual({ b: Buffer.from([1, 2]) });
    expect(amqplibReadTable(amqplibTable({ b: u8 }))).toEqual({ b: { 0: 1, 1: 2 } });
  });

  it('undefined: both skip undefined keys; in arrays warren writes void, amqplib throws', () => {
    expect(warrenTable({ a: undefined, b: 'x' })).toEqual(amqplibTable({ a: undefined, b: 'x' }));
    expect(amqplibReadTable(warrenTable({ a: [undefined] }))).toEqual({ a: [null] });
    expect(() => amqplibTable({ a: [undefined] })).toThrow(/undefined/);
  });

  it('non-plain objects: warren refuses them, amqplib writes their own enumerable keys as a table', () => {
    expect(() => warrenTable({ m: new Map([['k', 1]]) as never })).toThrow(/Map/);
    expect(amqplibReadTable(amqplibTable({ m: new Map([['k', 1]]) }))).toEqual({ m: {} });
  });

  // Every tag, hand-built, read by both. Each row: tag, value bytes, warren's value, amqplib's value.
  const TAGS: [string, string, unknown, unknown][] = [
    ['t', '74 01', true, true],
    ['b', '62 80', -128, -128],
    ['B', '42 ff', 255, 255],
    ['s', '73 8000', -32768, -32768],
    ['u', '75 ffff', 65535, 65535],
    ['I', '49 80000000', -2147483648, -2147483648],
    ['i', '69 ffffffff', 4294967295, 4294967295],
    // int64: bigint in warren, number in amqplib.
    ['l', '6c 7fffffffffffffff', 2n ** 63n - 1n, 2 ** 63],
    ['l', '6c ffffffffffffffff', -1n, -1],
    ['f', '66 3dcccccd', Math.fround(0.1), Math.fround(0.1)],
    ['d', '64 400921fb54442d18', Math.PI, Math.PI],
    // decimal: Decimal (signed) in warren, tagged object with unsigned digits in amqplib.
    ['D', '44 02 fffffffe', new Decimal(2, -2), { '!': 'decimal', value: { places: 2, digits: 4294967294 } }],
    ['S', '53 00000003 616263', 'abc', 'abc'],
    // timestamp: Date in warren, tagged seconds in amqplib.
    ['T', '54 000000006553f100', new Date(1700000000000), { '!': 'timestamp', value: 1700000000 }],
    ['F', '46 00000004 01 61 74 00', { a: false }, { a: false }],
    ['A', '41 00000003 56 74 01', [null, true], [null, true]],
    ['V', '56', null, null],
    ['x', '78 00000002 abcd', Buffer.from([0xab, 0xcd]), Buffer.from([0xab, 0xcd])],
  ];

  it.each(TAGS)('tag %s (%s) reads as documented in both', (_tag, valueHex, ours, theirs) => {
    const entry = hex('01 6b', valueHex);
    const bytes = Buffer.concat([Buffer.alloc(4), entry]);
    bytes.writeUInt32BE(entry.length, 0);
    expect(warrenReadTable(bytes)).toEqual({ k: ours });
    expect(amqplibReadTable(bytes)).toEqual({ k: theirs });
  });

  it('covers all 17 tags', () => {
    expect(new Set(TAGS.map(([t]) => t)).size).toBe(17);
  });
});
