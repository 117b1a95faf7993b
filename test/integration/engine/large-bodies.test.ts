import { randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import type { Delivery } from '../../../src/connection/channel.js';
import { ContentAssembler } from '../../../src/protocol/content.js';
import { EncodeError } from '../../../src/protocol/errors.js';
import { brokerOptions, engineSuite, sha256, sleep, waitFor } from './engine-helpers.js';

const suite = engineSuite();

const MiB = 1024 * 1024;

/** Random bytes with a recognisable first and last byte, so truncation or shifting shows up. */
function body(size: number): Buffer {
  const b = randomBytes(size);
  b[0] = 0xaa;
  b[size - 1] = 0x55;
  return b;
}

describe.each([
  { frameMax: 131072, label: 'frame_max 131072' },
  { frameMax: 8192, label: 'frame_max 8192' },
])('bodies larger than frame_max ($label)', ({ frameMax }) => {
  it('publishes 1 MiB and 16 MiB bodies in confirm mode and gets them back byte-identical (basic.get)', async () => {
    const conn = await suite.open(brokerOptions({ frameMax }));
    expect(conn.frameMax).toBe(frameMax);
    const ch = await conn.createChannel();
    await ch.confirmSelect();
    const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
    const small = body(MiB);
    const large = body(16 * MiB);
    await Promise.all([
      ch.basicPublish({ routingKey: queue }, small, { messageId: 'small', headers: { sha: sha256(small) } }),
      ch.basicPublish({ routingKey: queue }, large, { messageId: 'large', headers: { sha: sha256(large) } }),
    ]);
    expect(ch.unconfirmed).toBe(0);
    for (const sent of [small, large]) {
      const got = await ch.basicGet({ queue, noAck: true });
      expect(got).not.toBeNull();
      expect(got!.body.length).toBe(sent.length);
      expect(sha256(got!.body)).toBe(sha256(sent));
      expect(got!.properties.headers?.sha).toBe(sha256(sent));
    }
    expect(await ch.basicGet({ queue, noAck: true })).toBeNull();
  });

  it('delivers a large body to a consumer between small messages, in order and intact', async () => {
    const conn = await suite.open(brokerOptions({ frameMax }));
    const ch = await conn.createChannel();
    await ch.confirmSelect();
    const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
    const bodies = [body(10), body(3 * MiB + 17), body(frameMax - 8), body(frameMax - 7), body(frameMax * 2), body(1)];
    const deliveries: Delivery[] = [];
    await ch.basicConsume({ queue, noAck: true }, (d) => deliveries.push(d));
    await Promise.all(bodies.map((b, i) => ch.basicPublish({ routingKey: queue }, b, { messageId: String(i) })));
    await waitFor(() => deliveries.length === bodies.length, `${bodies.length} deliveries`, 20_000);
    expect(deliveries.map((d) => d.properties.messageId)).toEqual(bodies.map((_b, i) => String(i)));
    expect(deliveries.map((d) => sha256(d.body))).toEqual(bodies.map(sha256));
  });
});

it('large bodies on two channels at once are read in place into their own buffers, byte-identical', async () => {
  // Two consumers of one connection: their frames interleave on the socket, so a read placed into one
  // channel's body is followed by another channel's frames.
  const conn = await suite.open(brokerOptions({ frameMax: 131072 }));
  const channels = await Promise.all([conn.createChannel(), conn.createChannel()]);
  const bodies = [body(MiB), body(2 * MiB + 3), body(300 * 1024), body(17), body(MiB - 1)];
  const got: Delivery[][] = [[], []];
  const placed = vi.spyOn(ContentAssembler.prototype, 'placed');
  let inPlace = 0;
  try {
    const queues: string[] = [];
    for (const [i, ch] of channels.entries()) {
      await ch.confirmSelect();
      const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
      queues.push(queue);
      await ch.basicConsume({ queue, noAck: true }, (d) => got[i]!.push(d));
    }
    await Promise.all(channels.flatMap((ch, i) => bodies.map((b) => ch.basicPublish({ routingKey: queues[i]! }, b))));
    await waitFor(() => got.every((g) => g.length === bodies.length), 'every delivery', 20_000);
    inPlace = placed.mock.calls.reduce((sum, [n]) => sum + n, 0);
  } finally {
    placed.mockRestore();
  }
  for (const g of got) expect(g.map((d) => sha256(d.body))).toEqual(bodies.map(sha256));
  // Most body bytes were read in place (before this existed, none were: each was copied out of a slab).
  const large = bodies.filter((b) => b.length > 128 * 1024).reduce((sum, b) => sum + b.length, 0) * 2;
  expect(inPlace).toBeGreaterThan(large * 0.5);
});

it('a body exactly at the frame payload limit, and empty bodies, round-trip', async () => {
  const conn = await suite.open(brokerOptions({ frameMax: 8192 }));
  const ch = await conn.createChannel();
  await ch.confirmSelect();
  const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
  const exact = body(8192 - 8);
  await ch.basicPublish({ routingKey: queue }, exact);
  await ch.basicPublish({ routingKey: queue }, Buffer.alloc(0));
  await ch.basicPublish({ routingKey: queue }, '');
  expect((await ch.basicGet({ queue, noAck: true }))?.body.equals(exact)).toBe(true);
  expect((await ch.basicGet({ queue, noAck: true }))?.body.length).toBe(0);
  expect((await ch.basicGet({ queue, noAck: true }))?.body.length).toBe(0);
});

// Bug: a content header or method frame is written even when it is larger than the negotiated frame_max
// (AMQP has no continuation for them), so RabbitMQ closes the whole connection with 501 FRAME_ERROR
// `{frame_too_large,...}` and every channel on it fails. warren should refuse such a call locally.
describe('frames that cannot fit in frame_max', () => {
  it('a publish whose properties exceed frame_max is refused locally; the connection survives', async () => {
    const conn = await suite.open(brokerOptions({ frameMax: 8192 }));
    let connError: unknown;
    conn.on('close', (err) => {
      connError = err;
    });
    const ch = await conn.createChannel();
    await ch.confirmSelect();
    const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
    const err = await ch
      .basicPublish({ routingKey: queue }, 'x', { headers: { big: 'a'.repeat(10_000) } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EncodeError);
    await sleep(100);
    expect(connError).toBeUndefined();
    expect(conn.isOpen).toBe(true);
    expect(ch.isOpen).toBe(true);
    // The same headers fit with the default frame_max.
    await ch.basicPublish({ routingKey: queue }, 'small headers', { headers: { ok: 'a'.repeat(1000) } });
    expect((await ch.basicGet({ queue, noAck: true }))?.body.toString()).toBe('small headers');
  });

  it('a method whose arguments exceed frame_max is refused locally; the connection survives', async () => {
    const conn = await suite.open(brokerOptions({ frameMax: 8192 }));
    let connError: unknown;
    conn.on('close', (err) => {
      connError = err;
    });
    const ch = await conn.createChannel();
    const err = await ch
      .queueDeclare({ queue: '', exclusive: true, arguments: { 'x-note': 'a'.repeat(10_000) } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EncodeError);
    await sleep(100);
    expect(connError).toBeUndefined();
    expect(conn.isOpen).toBe(true);
    await expect(ch.queueDeclare({ queue: '', exclusive: true })).resolves.toBeDefined();
  });
});
