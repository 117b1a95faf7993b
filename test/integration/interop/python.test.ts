/**
 * warren beside real Python services: messages go through the broker between warren and pika 1.2 (the
 * blocking client) or aio-pika 8 (asyncio, on aiormq/pamqp), both ways, and every property and header
 * type must mean the same on both sides. The Python side is `python_peer.py`, run with Debian's python3
 * (`.ci/run` installs python3-pika and python3-aio-pika).
 *
 * Known faults of the Python libraries are not asserted as if they were contracts; the samples avoid
 * them and README's interop notes name them: pika 1.2 reads a float header as a truncated int and a
 * negative 64-bit int as unsigned; pamqp 3.2 cannot encode a negative int in -128..-1; aio-pika turns
 * Decimal and float headers into JSON bytes.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Channel } from '../../../src/connection/channel.js';
import { connect } from '../../../src/connection/connect.js';
import type { Connection } from '../../../src/connection/connection.js';
import { Decimal, type FieldTable } from '../../../src/protocol/field-table.js';
import type { BasicProperties } from '../../../src/protocol/spec.js';
import { brokerUrl, uniqueName } from '../../helpers/broker.js';

const run = promisify(execFile);
const PEER = fileURLToPath(new URL('./python_peer.py', import.meta.url));
/** Debian's interpreter: the apt packages python3-pika and python3-aio-pika live there, not in a pyenv. */
const PYTHON = '/usr/bin/python3';
const LIBS = ['pika', 'aio-pika'] as const;
type Lib = (typeof LIBS)[number];

/** A Python value as python_peer.py prints it: its type, and its value. */
type Described = { t: string; v?: unknown };

async function python(lib: Lib, mode: 'read' | 'write', queue: string, count = 0): Promise<string[]> {
  try {
    const { stdout } = await run(PYTHON, [PEER, lib, mode, brokerUrl(), queue, String(count)], { timeout: 30_000 });
    return stdout.trim().split('\n');
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    if (/No module named/.test(e.stderr ?? '')) {
      throw new Error(`${lib} is not installed for ${PYTHON}: apt-get install python3-pika python3-aio-pika`);
    }
    throw new Error(`python_peer.py ${lib} ${mode} failed: ${e.stderr || e.message}`);
  }
}

const int = (v: number | bigint): Described => ({ t: 'int', v: String(v) });
const str = (v: string): Described => ({ t: 'str', v });
const b64 = (bytes: number[]) => Buffer.from(bytes).toString('base64');

let conn: Connection;
let ch: Channel;
const queues: string[] = [];

async function newQueue(): Promise<string> {
  const queue = uniqueName('interop');
  await ch.queueDeclare({ queue, durable: true });
  queues.push(queue);
  return queue;
}

beforeAll(async () => {
  conn = await connect(brokerUrl());
  ch = await conn.createChannel();
  await ch.confirmSelect();
});

afterAll(async () => {
  for (const queue of queues) await ch.queueDelete({ queue });
  await conn.close();
});

describe('warren → Python', () => {
  const when = new Date(Date.UTC(2024, 0, 2, 3, 4, 5));
  const properties: BasicProperties = {
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    deliveryMode: 2,
    priority: 3,
    correlationId: 'corr-7',
    replyTo: 'replies',
    expiration: '60000',
    messageId: 'warren-1',
    timestamp: new Date(Date.UTC(2024, 4, 6, 7, 8, 9)),
    type: 'order.created',
    userId: 'guest',
    appId: 'warren',
  };
  /** Headers every library reads right, and what Python gets for each. */
  const common: Array<[string, unknown, Described]> = [
    ['int32', 7, int(7)],
    ['negative', -5, int(-5)],
    ['int64 number', 2 ** 40, int(2 ** 40)],
    ['bigint', 2n ** 62n, int(2n ** 62n)],
    ['flag', true, { t: 'bool', v: true }],
    ['text', 'h\u00e9llo \u{1f407}', str('h\u00e9llo \u{1f407}')],
    ['bytes', Buffer.from([0, 0xff, 0x10]), { t: 'bytes', v: b64([0, 0xff, 0x10]) }],
    ['when', when, { t: 'datetime', v: when.getTime() / 1000 }],
    ['price', new Decimal(3, 12345), { t: 'decimal', v: '12.345' }],
    ['nothing', null, { t: 'none' }],
    [
      'nested',
      { list: [1, 'two', null, false], empty: {} },
      {
        t: 'dict',
        v: {
          list: { t: 'list', v: [int(1), str('two'), { t: 'none' }, { t: 'bool', v: false }] },
          empty: { t: 'dict', v: {} },
        },
      },
    ],
  ];
  /** Read right by pamqp only (pika 1.2 truncates floats and reads 'l' as unsigned). */
  const pamqpOnly: Array<[string, unknown, Described]> = [
    ['fraction', 1.5, { t: 'float', v: 1.5 }],
    ['negative int64', -(2n ** 40n), int(-(2n ** 40n))],
  ];

  for (const lib of LIBS) {
    it(`${lib} reads the body, every property and every header type as sent`, async () => {
      const queue = await newQueue();
      const samples = lib === 'pika' ? common : [...common, ...pamqpOnly];
      const headers: FieldTable = Object.fromEntries(samples.map(([k, v]) => [k, v])) as FieldTable;
      const body = Buffer.from(JSON.stringify({ order: 42, note: 'caf\u00e9' }));
      await ch.basicPublish({ routingKey: queue }, body, { ...properties, headers });

      const [line] = await python(lib, 'read', queue, 1);
      const got = JSON.parse(line!) as { body: string; properties: Record<string, Described> };
      expect(Buffer.from(got.body, 'base64')).toEqual(body);
      const p = got.properties;
      expect(p.content_type).toEqual(str('application/json'));
      expect(p.content_encoding).toEqual(str('utf-8'));
      expect(p.delivery_mode).toEqual(int(2));
      expect(p.priority).toEqual(int(3));
      expect(p.correlation_id).toEqual(str('corr-7'));
      expect(p.reply_to).toEqual(str('replies'));
      expect(p.expiration).toEqual(str('60000'));
      expect(p.message_id).toEqual(str('warren-1'));
      expect(p.type).toEqual(str('order.created'));
      expect(p.user_id).toEqual(str('guest'));
      expect(p.app_id).toEqual(str('warren'));
      // pika hands the timestamp over as epoch seconds, pamqp as a datetime: the same instant either way.
      const seconds = properties.timestamp!.getTime() / 1000;
      expect(p.timestamp).toEqual(lib === 'pika' ? int(seconds) : { t: 'datetime', v: seconds });
      expect(p.headers).toEqual({ t: 'dict', v: Object.fromEntries(samples.map(([k, , py]) => [k, py])) });
    });
  }
});

describe('Python → warren', () => {
  for (const lib of LIBS) {
    it(`warren reads what ${lib} publishes: body, properties and header types`, async () => {
      const queue = await newQueue();
      expect(await python(lib, 'write', queue)).toEqual(['ok']);
      const first = await ch.basicGet({ queue, noAck: true });
      const second = await ch.basicGet({ queue, noAck: true });
      expect(first).not.toBeNull();
      expect(second).not.toBeNull();

      expect(JSON.parse(first!.body.toString())).toEqual({ order: 1, sku: 'A1' });
      const { headers, ...rest } = first!.properties;
      expect(rest).toEqual({
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        deliveryMode: 2,
        priority: 3,
        correlationId: 'corr-1',
        replyTo: 'replies',
        expiration: '60000',
        messageId: 'py-1',
        timestamp: new Date(Date.UTC(2024, 4, 6, 7, 8, 9)),
        type: 'order.created',
        userId: 'guest',
        appId: 'python-service',
      });
      // Ints that fit 32 bits arrive as numbers (pika writes 'I', pamqp the smallest type), larger ones as
      // bigint ('l'), as warren's own 64-bit ints do.
      const expected: FieldTable = {
        small: 7,
        negative: lib === 'pika' ? -5 : -70000,
        big: 2n ** 40n,
        flag: true,
        text: 'h\u00e9llo',
        raw: Buffer.from([0, 0xff, 0x10]),
        when: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)),
        nested: { list: [1, 'two', null, false], empty: {} },
        nothing: null,
      };
      if (lib === 'pika') expected.price = new Decimal(3, 12345);
      expect(headers).toEqual(expected);

      expect(second!.body).toEqual(Buffer.from([0, 1, ...Buffer.from('binary'), 0xfe, 0xff]));
      expect(second!.properties.deliveryMode).toBe(1);
    });
  }
});
