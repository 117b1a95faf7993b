/**
 * `npm run bench:codec`: the pure codec, no broker and no socket. Compares warren with amqplib's codec on the
 * same inputs:
 *
 * - encode publish: basic.publish + content header + one 100-byte body frame, with properties contentType,
 *   deliveryMode 2, messageId, timestamp and a 2-entry headers table. warren reuses one BufferWriter and
 *   calls take() after each publish, as the connection does; amqplib does what Connection#sendMessage does
 *   for a small message (encodeMethod + encodeProperties + makeBodyFrame, copied into one buffer).
 * - decode delivery: basic.deliver + content header + body frame, 1000 deliveries in one buffer, through
 *   warren's FrameDecoder + ContentAssembler, and through amqplib's parseFrame/decodeFrame plus the content
 *   assembly its channel does (acceptMessage).
 *
 * Each measurement warms up, then runs batches until ~1.5 s have passed (process.hrtime.bigint).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  type BasicProperties,
  BufferWriter,
  ContentAssembler,
  type ContentMessage,
  FrameDecoder,
  METHODS,
  writeMethodFrame,
  writePublish,
} from '../src/protocol/index.js';

// ---------------------------------------------------------------------------------------------------------
// amqplib internals (hidden by its package.json `exports`, so required by absolute path).

interface AmqplibParsedFrame {
  type: number;
  channel: number;
  size: number;
  payload: Buffer;
  rest: Buffer;
}
interface AmqplibDecodedFrame {
  id?: number;
  channel: number;
  size?: number;
  fields?: Record<string, unknown>;
  content?: Buffer;
}
const require = createRequire(import.meta.url);
const amqplibDir = dirname(require.resolve('amqplib'));
const defs = require(join(amqplibDir, 'lib/defs.js')) as {
  encodeMethod(id: number, channel: number, fields: Record<string, unknown>): Buffer;
  encodeProperties(id: number, channel: number, size: number, fields: Record<string, unknown>): Buffer;
  BasicPublish: number;
  BasicDeliver: number;
  BasicProperties: number;
  FRAME_OVERHEAD: number;
};
const amqpFrame = require(join(amqplibDir, 'lib/frame.js')) as {
  makeBodyFrame(channel: number, payload: Buffer): Buffer;
  parseFrame(bin: Buffer, max: number): AmqplibParsedFrame | false;
  decodeFrame(frame: AmqplibParsedFrame): AmqplibDecodedFrame;
};

// ---------------------------------------------------------------------------------------------------------
// Inputs

const FRAME_MAX = 131072;
const CHANNEL = 1;
const BODY = Buffer.alloc(100, 0x61);
const TIMESTAMP_S = 1700000000;
const publishArgs = { exchange: 'orders', routingKey: 'order.created', mandatory: false, immediate: false, ticket: 0 };
const warrenProps: BasicProperties = {
  contentType: 'application/json',
  deliveryMode: 2,
  messageId: 'msg-0001',
  timestamp: new Date(TIMESTAMP_S * 1000),
  headers: { 'x-source': 'bench', 'x-attempt': 'first' },
};
// amqplib's timestamp is a number of seconds; the rest is the same.
const amqplibProps = { ...warrenProps, timestamp: TIMESTAMP_S };
const DELIVERIES = 1000;

// ---------------------------------------------------------------------------------------------------------
// Encoders

const writer = new BufferWriter();
function warrenEncode(): Buffer {
  writePublish(writer, CHANNEL, publishArgs, warrenProps, BODY, FRAME_MAX);
  return writer.take()!;
}

function amqplibEncode(): Buffer {
  // Connection#sendMessage, small-message path.
  const mframe = defs.encodeMethod(defs.BasicPublish, CHANNEL, publishArgs);
  const pframe = defs.encodeProperties(defs.BasicProperties, CHANNEL, BODY.length, amqplibProps);
  const all = Buffer.allocUnsafe(mframe.length + pframe.length + BODY.length + defs.FRAME_OVERHEAD);
  let offset = mframe.copy(all, 0);
  offset += pframe.copy(all, offset);
  amqpFrame.makeBodyFrame(CHANNEL, BODY).copy(all, offset);
  return all;
}

// ---------------------------------------------------------------------------------------------------------
// Decoders

function deliveriesBuffer(): Buffer {
  const w = new BufferWriter();
  const parts: Buffer[] = [];
  for (let i = 0; i < DELIVERIES; i++) {
    writeMethodFrame(w, CHANNEL, 'basic.deliver', {
      consumerTag: 'amq.ctag-bench',
      deliveryTag: i + 1,
      redelivered: false,
      exchange: 'orders',
      routingKey: 'order.created',
    });
    // writePublish writes a basic.publish method frame first: keep only its header and body frames.
    const deliver = Buffer.from(w.take()!);
    writePublish(w, CHANNEL, publishArgs, warrenProps, BODY, FRAME_MAX);
    const publish = w.take()!;
    const publishMethodLength = 7 + publish.readUInt32BE(3) + 1;
    parts.push(deliver, Buffer.from(publish.subarray(publishMethodLength)));
  }
  return Buffer.concat(parts);
}

/** warren: one FrameDecoder and one ContentAssembler per channel, as the connection has. */
function makeWarrenDecoder(onMessage: (m: ContentMessage) => void): (chunk: Buffer) => void {
  const assembler = new ContentAssembler();
  const decoder = new FrameDecoder(
    {
      method(_, method) {
        if (METHODS[method.name].content) assembler.start(method);
      },
      header(_, bodySize, properties) {
        const m = assembler.header(bodySize, properties);
        if (m) onMessage(m);
      },
      body(_, payload) {
        const m = assembler.body(payload);
        if (m) onMessage(m);
      },
      heartbeat() {},
      error(err) {
        throw err;
      },
    },
    FRAME_MAX,
  );
  return (chunk) => decoder.push(chunk);
}

interface AmqplibMessage {
  fields: Record<string, unknown>;
  properties: Record<string, unknown>;
  content: Buffer;
}

/** amqplib: Connection#recvFrame's parse loop, and the content assembly of its channel (acceptMessage). */
function makeAmqplibDecoder(onMessage: (m: AmqplibMessage) => void): (chunk: Buffer) => void {
  let fields: Record<string, unknown> | null = null;
  let properties: Record<string, unknown> | null = null;
  let remaining = 0;
  let buffers: Buffer[] | null = null;
  return (chunk) => {
    let rest = chunk;
    for (;;) {
      const parsed = amqpFrame.parseFrame(rest, FRAME_MAX);
      if (parsed === false) break;
      rest = parsed.rest;
      const f = amqpFrame.decodeFrame(parsed);
      if (f.id === defs.BasicDeliver) {
        fields = f.fields!;
      } else if (f.id === defs.BasicProperties) {
        properties = f.fields!;
        remaining = f.size!;
        if (remaining === 0) onMessage({ fields: fields!, properties, content: Buffer.alloc(0) });
      } else if (f.content) {
        remaining -= f.content.length;
        if (remaining === 0) {
          let content = f.content;
          if (buffers !== null) {
            buffers.push(f.content);
            content = Buffer.concat(buffers);
            buffers = null;
          }
          onMessage({ fields: fields!, properties: properties!, content });
        } else {
          buffers ??= [];
          buffers.push(f.content);
        }
      }
    }
  };
}

// ---------------------------------------------------------------------------------------------------------
// Timing

const WARMUP_NS = 500_000_000n;
const MEASURE_NS = 1_500_000_000n;
let sink = 0;

/** ns per op of `fn`, which performs `opsPerCall` operations per call. */
function measure(fn: () => number, opsPerCall: number): number {
  const run = (budget: bigint): { ns: bigint; ops: number } => {
    let ops = 0;
    const t0 = process.hrtime.bigint();
    let elapsed = 0n;
    while (elapsed < budget) {
      for (let i = 0; i < 64; i++) sink += fn();
      ops += 64 * opsPerCall;
      elapsed = process.hrtime.bigint() - t0;
    }
    return { ns: elapsed, ops };
  };
  run(WARMUP_NS);
  const { ns, ops } = run(MEASURE_NS);
  return Number(ns) / ops;
}

// ---------------------------------------------------------------------------------------------------------

function main(): void {
  // Both encoders must produce the same bytes, so the comparison is of the same work.
  const ours = Buffer.from(warrenEncode());
  const theirs = amqplibEncode();
  if (!ours.equals(theirs)) {
    throw new Error(`encoders disagree:\nwarren  ${ours.toString('hex')}\namqplib ${theirs.toString('hex')}`);
  }

  const stream = deliveriesBuffer();
  let warrenCount = 0;
  let amqplibCount = 0;
  const warrenPush = makeWarrenDecoder((m) => {
    warrenCount++;
    sink += m.body.length;
  });
  const amqplibPush = makeAmqplibDecoder((m) => {
    amqplibCount++;
    sink += m.content.length;
  });
  // Both decoders must see every delivery.
  warrenPush(stream);
  amqplibPush(stream);
  if (warrenCount !== DELIVERIES || amqplibCount !== DELIVERIES) {
    throw new Error(`decoders disagree: warren ${warrenCount}, amqplib ${amqplibCount} of ${DELIVERIES} deliveries`);
  }

  const rows: [string, number, number][] = [];
  rows.push([
    'encode publish (method+header+100 B body)',
    measure(() => warrenEncode().length, 1),
    measure(() => amqplibEncode().length, 1),
  ]);
  rows.push([
    `decode delivery (${DELIVERIES} per buffer)`,
    measure(() => {
      warrenPush(stream);
      return 0;
    }, DELIVERIES),
    measure(() => {
      amqplibPush(stream);
      return 0;
    }, DELIVERIES),
  ]);

  const width = Math.max(...rows.map((r) => r[0].length));
  console.log(
    `warren codec vs amqplib ${require(join(amqplibDir, 'package.json')).version} codec, node ${process.version}`,
  );
  console.log(`${ours.length}-byte publish, ${stream.length}-byte buffer of ${DELIVERIES} deliveries`);
  console.log();
  console.log(
    `${'operation'.padEnd(width)}  ${'warren ns/op'.padStart(12)}  ${'amqplib ns/op'.padStart(13)}  ${'warren/amqplib'.padStart(14)}`,
  );
  for (const [name, w, a] of rows) {
    console.log(
      `${name.padEnd(width)}  ${w.toFixed(0).padStart(12)}  ${a.toFixed(0).padStart(13)}  ${(w / a).toFixed(2).padStart(14)}`,
    );
  }
  if (sink === -1) console.log(sink); // keeps the results observable
}

main();
