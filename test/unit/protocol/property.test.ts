/**
 * Property-based tests (fast-check): random field tables, random methods and random chunkings of frame
 * streams round trip exactly. Run counts are sized so the file stays well under 5 s.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type BasicProperties,
  BufferReader,
  BufferWriter,
  Decimal,
  type FieldTable,
  type FieldValue,
  type Frame,
  FrameDecoder,
  frameObjects,
  type MethodName,
  type ProtocolError,
  readTable,
  writeHeartbeatFrame,
  writeMethodFrame,
  writePublish,
  writeTable,
} from '../../../src/protocol/index.js';

// ---------------------------------------------------------------------------------------------------------
// Exact deep equality: NaN equals NaN, -0 differs from +0, Buffers by bytes, Dates by time, Decimals by
// scale and value, bigint by value; objects must have the same own keys. Returns the path of the first
// difference, or null.

function difference(a: unknown, b: unknown, path = '$'): string | null {
  if (typeof a !== typeof b) return `${path}: ${typeof a} vs ${typeof b}`;
  if (typeof a === 'number' || typeof a === 'bigint' || typeof a !== 'object' || a === null || b === null) {
    return Object.is(a, b) ? null : `${path}: ${String(a)} vs ${String(b)}`;
  }
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b)) {
    if (!Buffer.isBuffer(a) || !Buffer.isBuffer(b)) return `${path}: Buffer vs non-Buffer`;
    return a.equals(b) ? null : `${path}: ${a.toString('hex')} vs ${b.toString('hex')}`;
  }
  if (a instanceof Date || b instanceof Date) {
    if (!(a instanceof Date) || !(b instanceof Date)) return `${path}: Date vs non-Date`;
    return Object.is(a.getTime(), b.getTime()) ? null : `${path}: ${a.toISOString()} vs ${b.toISOString()}`;
  }
  if (a instanceof Decimal || b instanceof Decimal) {
    if (!(a instanceof Decimal) || !(b instanceof Decimal)) return `${path}: Decimal vs non-Decimal`;
    return a.scale === b.scale && a.value === b.value ? null : `${path}: ${a} vs ${b}`;
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b)) return `${path}: array vs non-array`;
    if (a.length !== b.length) return `${path}: length ${a.length} vs ${b.length}`;
    for (let i = 0; i < a.length; i++) {
      const d = difference(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length || ka.some((k, i) => k !== kb[i])) {
    return `${path}: keys ${JSON.stringify(ka)} vs ${JSON.stringify(kb)}`;
  }
  for (const k of ka) {
    const d = difference(
      (a as Record<string, unknown>)[k],
      (b as Record<string, unknown>)[k],
      `${path}[${JSON.stringify(k)}]`,
    );
    if (d) return d;
  }
  return null;
}

function expectSame(actual: unknown, expected: unknown): void {
  expect(difference(actual, expected)).toBeNull();
}

// ---------------------------------------------------------------------------------------------------------
// Arbitraries

// A failing property with large counterexamples can shrink for a long time: bound it, and fail loudly.
fc.configureGlobal({ interruptAfterTimeLimit: 30_000, markInterruptAsFailure: true });

/** Strings that survive UTF-8 (no lone surrogates). */
const text = (maxLength: number) =>
  fc.string({ unit: 'binary', maxLength }).filter((s) => Buffer.from(s).toString() === s);

/** Shortstr-compatible strings (≤ 255 UTF-8 bytes), including long ones near the limit. */
const shortstr = fc
  .oneof(
    { weight: 20, arbitrary: text(12) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', minLength: 250, maxLength: 255 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 60, maxLength: 63 }) }, // up to 252 bytes
  )
  .filter((s) => Buffer.byteLength(s) <= 255 && Buffer.from(s).toString() === s);

/** Table keys, now and then one that collides with Object.prototype (a "__proto__" key must stay an own key). */
const key = fc.oneof(
  { weight: 30, arbitrary: shortstr },
  { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty') },
);

const scalar: fc.Arbitrary<FieldValue> = fc.oneof(
  fc.boolean(),
  fc.integer({ min: -0x80000000, max: 0x7fffffff }),
  fc.double().filter((d) => !Number.isInteger(d) || Object.is(d, -0)), // NaN, ±Infinity, -0 and fractions
  fc.constantFrom(Number.NaN, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0.5, -1e-300),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  text(20),
  fc.uint8Array({ maxLength: 20 }).map((u) => Buffer.from(u)),
  fc.integer({ min: 0, max: 253402300799 }).map((s) => new Date(s * 1000)), // 1970 .. 9999, whole seconds
  fc
    .record({ scale: fc.integer({ min: 0, max: 255 }), value: fc.integer({ min: -0x80000000, max: 0x7fffffff }) })
    .map(({ scale, value }) => new Decimal(scale, value)),
  fc.constant(null),
);

/** Builds a table from entries with unique keys, as own enumerable properties. */
function toTable(entries: [string, FieldValue][]): FieldTable {
  const t: FieldTable = {};
  for (const [k, v] of entries)
    Object.defineProperty(t, k, { value: v, enumerable: true, writable: true, configurable: true });
  return t;
}

const { table: tableArb } = fc.letrec<{ value: FieldValue; table: FieldTable; array: FieldValue[] }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', maxDepth: 4 }, scalar, tie('array'), tie('table')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  table: fc
    .uniqueArray(fc.tuple(key, tie('value')), { selector: ([k]) => k, maxLength: 5 })
    .map((entries) => toTable(entries)),
}));

// ---------------------------------------------------------------------------------------------------------
// The spec's argument types, read from the JSON, to build random method arguments.

interface JsonArg {
  name: string;
  type?: string;
  domain?: string;
}
interface JsonSpec {
  domains: [string, string][];
  classes: { name: string; methods: { name: string; arguments: JsonArg[] }[] }[];
}
const SPEC = JSON.parse(
  readFileSync(new URL('../../../spec/amqp-rabbitmq-0.9.1.json', import.meta.url), 'utf8'),
) as JsonSpec;
const DOMAINS = new Map(SPEC.domains);
const SPOKEN = ['connection', 'channel', 'exchange', 'queue', 'basic', 'tx', 'confirm'];

function primitive(arg: JsonArg): string {
  if (arg.type) return arg.type;
  let t = arg.domain!;
  while (DOMAINS.has(t) && DOMAINS.get(t) !== t) t = DOMAINS.get(t)!;
  return t;
}
const camel = (name: string) => name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

const ARG_ARBS: Record<string, fc.Arbitrary<unknown>> = {
  bit: fc.boolean(),
  octet: fc.integer({ min: 0, max: 0xff }),
  short: fc.integer({ min: 0, max: 0xffff }),
  long: fc.integer({ min: 0, max: 0xffffffff }),
  longlong: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.maxSafeNat()),
  shortstr: shortstr,
  longstr: text(300),
  table: tableArb,
};

const METHOD_ARBS = SPEC.classes
  .filter((c) => SPOKEN.includes(c.name))
  .flatMap((c) =>
    c.methods.map((m) => {
      const name = `${c.name}.${m.name}` as MethodName;
      const fields: Record<string, fc.Arbitrary<unknown>> = {};
      for (const a of m.arguments) {
        const arb = ARG_ARBS[primitive(a)];
        if (!arb) throw new Error(`no arbitrary for ${primitive(a)}`);
        fields[camel(a.name)] = arb;
      }
      return fc.record(fields).map((args) => ({ name, args }));
    }),
  );
const methodArb = fc.oneof(...METHOD_ARBS);

function propertiesOf(headers: fc.Arbitrary<FieldTable>, str: fc.Arbitrary<string>): fc.Arbitrary<BasicProperties> {
  return fc.record(
    {
      contentType: str,
      contentEncoding: str,
      headers,
      deliveryMode: fc.integer({ min: 0, max: 255 }),
      priority: fc.integer({ min: 0, max: 255 }),
      correlationId: str,
      replyTo: str,
      expiration: str,
      messageId: str,
      timestamp: fc.integer({ min: 0, max: 253402300799 }).map((s) => new Date(s * 1000)),
      type: str,
      userId: str,
      appId: str,
      clusterId: str,
    },
    { requiredKeys: [] },
  );
}
const propertiesArb = propertiesOf(tableArb, shortstr);
/** Properties whose content header surely fits a 4096-byte frame (flat headers, short strings). */
const smallPropertiesArb = propertiesOf(
  fc.uniqueArray(fc.tuple(text(12), scalar), { selector: ([k]) => k, maxLength: 4 }).map(toTable),
  text(12),
);

// ---------------------------------------------------------------------------------------------------------

function decodeFrames(chunks: Buffer[], maxFrameSize = 1 << 20): { frames: Frame[]; errors: ProtocolError[] } {
  const frames: Frame[] = [];
  const errors: ProtocolError[] = [];
  const decoder = new FrameDecoder(
    frameObjects(
      (f) => frames.push(f),
      (e) => errors.push(e),
    ),
  );
  decoder.maxFrameSize = maxFrameSize; // set after construction: the constructor raises 0 to FRAME_MIN_SIZE
  for (const c of chunks) decoder.push(c);
  return { frames, errors };
}

describe('property: field tables', () => {
  it('difference() itself sees NaN = NaN, -0 ≠ 0, bigint ≠ number, Buffer bytes, key order', () => {
    expect(difference({ a: Number.NaN }, { a: Number.NaN })).toBeNull();
    expect(difference({ a: -0 }, { a: 0 })).not.toBeNull();
    expect(difference({ a: 1n }, { a: 1 })).not.toBeNull();
    expect(difference(Buffer.from([1]), Buffer.from([2]))).not.toBeNull();
    expect(difference({ a: 1, b: 2 }, { b: 2, a: 1 })).not.toBeNull();
    expect(difference(new Decimal(1, 2), new Decimal(2, 2))).not.toBeNull();
    expect(difference([new Date(0)], [new Date(1000)])).not.toBeNull();
  });

  it('random tables round trip exactly', () => {
    fc.assert(
      fc.property(tableArb, (table) => {
        const w = new BufferWriter(64);
        writeTable(w, table, 'headers');
        const bytes = Buffer.from(w.take()!);
        const r = new BufferReader(bytes, 0, bytes.length);
        const back = readTable(r);
        expect(r.pos).toBe(bytes.length);
        expectSame(back, table);
      }),
      { numRuns: 400 },
    );
  });

  it('encoding a table is deterministic and the declared length is exact', () => {
    fc.assert(
      fc.property(tableArb, (table) => {
        const w = new BufferWriter(16);
        writeTable(w, table, 'headers');
        writeTable(w, table, 'headers');
        const bytes = w.take()!;
        const len = bytes.readUInt32BE(0);
        expect(bytes.length).toBe(2 * (4 + len));
        expect(bytes.subarray(0, 4 + len).equals(bytes.subarray(4 + len))).toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});

describe('property: methods', () => {
  it('a random method with random arguments round trips', () => {
    fc.assert(
      fc.property(methodArb, fc.integer({ min: 0, max: 0xffff }), ({ name, args }, channel) => {
        const w = new BufferWriter(64);
        writeMethodFrame(w, channel, name, args as never);
        const { frames, errors } = decodeFrames([Buffer.from(w.take()!)], 0);
        expect(errors).toEqual([]);
        expect(frames).toHaveLength(1);
        const f = frames[0]!;
        expect(f.type).toBe(1);
        expect(f.channel).toBe(channel);
        expectSame(f.type === 1 ? f.method : f, { name, ...args });
      }),
      { numRuns: 600 },
    );
  });

  it('random content headers round trip', () => {
    fc.assert(
      fc.property(propertiesArb, fc.integer({ min: 0, max: 5000 }), (properties, size) => {
        const w = new BufferWriter(64);
        // A large frame_max: random nested headers can outgrow 4 KiB, which writePublish rightly refuses.
        writePublish(w, 1, {}, properties, Buffer.alloc(size, 7), 1 << 20);
        const { frames, errors } = decodeFrames([Buffer.from(w.take()!)]);
        expect(errors).toEqual([]);
        const header = frames[1]!;
        expect(header.type).toBe(2);
        if (header.type !== 2) return;
        expect(header.bodySize).toBe(size);
        expectSame(header.properties, properties);
      }),
      { numRuns: 200 },
    );
  });
});

describe('property: chunking', () => {
  type Item =
    | { kind: 'method'; channel: number; name: MethodName; args: unknown }
    | { kind: 'publish'; channel: number; properties: BasicProperties; body: Buffer }
    | { kind: 'heartbeat' };

  const itemArb: fc.Arbitrary<Item> = fc.oneof(
    fc.record({ channel: fc.integer({ min: 0, max: 10 }), m: methodArb }).map(({ channel, m }) => ({
      kind: 'method' as const,
      channel,
      name: m.name,
      args: m.args,
    })),
    fc
      .record({
        channel: fc.integer({ min: 1, max: 10 }),
        properties: smallPropertiesArb,
        body: fc.oneof(
          fc.uint8Array({ maxLength: 50 }),
          fc.integer({ min: 0, max: 12000 }).map((n) => new Uint8Array(n).fill(n % 256)),
        ),
      })
      .map(({ channel, properties, body }) => ({
        kind: 'publish' as const,
        channel,
        properties,
        body: Buffer.from(body),
      })),
    fc.constant({ kind: 'heartbeat' as const }),
  );

  function encodeStream(items: Item[]): Buffer {
    const w = new BufferWriter(256);
    const parts: Buffer[] = [];
    for (const item of items) {
      if (item.kind === 'method') writeMethodFrame(w, item.channel, item.name, item.args as never);
      else if (item.kind === 'heartbeat') writeHeartbeatFrame(w);
      else writePublish(w, item.channel, { routingKey: 'rk' }, item.properties, item.body, 4096);
      const out = w.take();
      if (out) parts.push(Buffer.from(out));
    }
    return Buffer.concat(parts);
  }

  /** A frame list in a form `difference` can compare (body payloads copied out of shared memory). */
  function comparable(frames: Frame[]): unknown[] {
    return frames.map((f) => (f.type === 3 ? { ...f, payload: Buffer.from(f.payload) } : f));
  }

  it('random chunkings of a stream of many frames decode to the same frames as one-shot decoding', () => {
    fc.assert(
      fc.property(
        fc.array(itemArb, { minLength: 1, maxLength: 25 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 60 }),
        (items, cutFractions) => {
          const stream = encodeStream(items);
          const oneShot = decodeFrames([stream], 0);
          expect(oneShot.errors).toEqual([]);
          const points = [...new Set(cutFractions.map((x) => Math.floor(x * stream.length)))]
            .filter((p) => p > 0 && p < stream.length)
            .sort((a, b) => a - b);
          const chunks: Buffer[] = [];
          let prev = 0;
          for (const p of [...points, stream.length]) {
            // Copy each chunk, as a socket would hand over separate buffers.
            chunks.push(Buffer.from(stream.subarray(prev, p)));
            prev = p;
          }
          const chunked = decodeFrames(chunks, 0);
          expect(chunked.errors).toEqual([]);
          expect(difference(comparable(chunked.frames), comparable(oneShot.frames))).toBeNull();
          // And the frames are the ones that were written.
          const expectedCount = items.reduce(
            (n, it) => n + (it.kind === 'publish' ? 2 + Math.ceil(it.body.length / 4088) : 1),
            0,
          );
          expect(oneShot.frames).toHaveLength(expectedCount);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('byte-at-a-time decoding of a random stream gives the one-shot frames', () => {
    fc.assert(
      fc.property(fc.array(itemArb, { minLength: 1, maxLength: 6 }), (items) => {
        const stream = encodeStream(items);
        const oneShot = decodeFrames([stream], 0);
        const bytes: Buffer[] = [];
        for (let i = 0; i < stream.length; i++) bytes.push(stream.subarray(i, i + 1));
        const chunked = decodeFrames(bytes, 0);
        expect(chunked.errors).toEqual([]);
        expect(difference(comparable(chunked.frames), comparable(oneShot.frames))).toBeNull();
      }),
      { numRuns: 25 },
    );
  });

  it('a decoder never throws on random bytes and reports at most one error', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), (chunks) => {
        const errors: ProtocolError[] = [];
        const decoder = new FrameDecoder(
          frameObjects(
            () => {},
            (e) => errors.push(e),
          ),
          4096,
        );
        for (const c of chunks) expect(() => decoder.push(Buffer.from(c))).not.toThrow();
        expect(errors.length).toBeLessThanOrEqual(1);
      }),
      { numRuns: 300 },
    );
  });
});
