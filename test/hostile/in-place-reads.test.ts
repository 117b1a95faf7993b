/**
 * Large bodies are read straight into the message's own buffer (FrameDecoder.readInto). A server that
 * writes them in odd pieces makes those reads end anywhere in a frame; one that hangs up in the middle
 * leaves a read in place unfinished. Neither may corrupt a body, throw out of the socket's read callback,
 * or leave anything behind.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Delivery } from '../../src/connection/channel.js';
import { ContentAssembler } from '../../src/protocol/content.js';
import { ConnectionError } from '../../src/protocol/errors.js';
import { waitFor } from '../helpers/wait.js';
import { bodyFrame, headerFrame, methodFrame } from './fake-broker.js';
import {
  closeCleanly,
  nextClose,
  openChannel,
  openConnection,
  trackUnhandledRejections,
  useFakeBroker,
  within,
} from './support.js';

trackUnhandledRejections();

/** The payload a frame of the fake broker's frame_max (131 072) carries. */
const FRAME_PAYLOAD = 131072 - 8;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** basic.deliver, its content header and `body` in full-size body frames, on channel 1. */
function delivery(tag: number, body: Buffer): Buffer {
  const frames = [
    methodFrame(1, 'basic.deliver', { consumerTag: 'ctag', deliveryTag: tag, exchange: '', routingKey: 'q' }),
    headerFrame(1, body.length),
  ];
  for (let off = 0; off < body.length; off += FRAME_PAYLOAD) {
    frames.push(bodyFrame(1, body.subarray(off, off + FRAME_PAYLOAD)));
  }
  return Buffer.concat(frames);
}

async function consuming(fx: ReturnType<typeof useFakeBroker>) {
  const { conn, peer } = await openConnection(fx.broker);
  const ch = await openChannel(conn, peer);
  const received: Delivery[] = [];
  const started = ch.basicConsume({ queue: 'q', consumerTag: 'ctag', noAck: true }, (d) => received.push(d));
  await peer.expectMethod('basic.consume', { channel: ch.id });
  peer.send(ch.id, 'basic.consume-ok', { consumerTag: 'ctag' });
  await started;
  return { conn, peer, received };
}

/** Writes `bytes` in pieces of `size`, letting the client read between them. */
async function trickle(write: (b: Buffer) => void, bytes: Buffer, size: number): Promise<void> {
  for (let off = 0; off < bytes.length; off += size) {
    write(bytes.subarray(off, off + size));
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('large bodies read in place from a server that writes them in odd pieces', () => {
  const fx = useFakeBroker('close-ok');
  afterEach(() => vi.restoreAllMocks());

  it.each([997, 10_007, 70_001, 131_080])(
    'pieces of %i bytes: every body intact, and the bytes went into the bodies in place',
    async (size) => {
      const { conn, peer, received } = await consuming(fx);
      const placed = vi.spyOn(ContentAssembler.prototype, 'placed');
      const bodies = [randomBytes(1024 * 1024 + 5), Buffer.from('small in between'), randomBytes(3 * FRAME_PAYLOAD)];
      await trickle((b) => peer.writeRaw(b), Buffer.concat(bodies.map((b, i) => delivery(i + 1, b))), size);
      await waitFor(() => received.length === bodies.length, `${bodies.length} deliveries`, 5000);
      expect(received.map((d) => sha(d.body))).toEqual(bodies.map(sha));
      expect(received.map((d) => d.deliveryTag)).toEqual([1, 2, 3]);
      const inPlace = placed.mock.calls.reduce((sum, [n]) => sum + n, 0);
      // Pieces under IN_PLACE_MIN (16 KiB) mostly arrive before the next read is asked for; larger ones
      // leave most of each frame to be read in place.
      if (size > 16 * 1024) expect(inPlace).toBeGreaterThan((bodies[0]!.length + bodies[2]!.length) / 4);
      await closeCleanly(conn, peer);
    },
  );
});

describe('a server that hangs up in the middle of a body being read in place', () => {
  const fx = useFakeBroker('close-ok');

  it('the connection closes with a ConnectionError; nothing half-received is delivered, nothing is left open', async () => {
    const { conn, peer, received } = await consuming(fx);
    const closed = nextClose(conn);
    const stream = delivery(1, randomBytes(1024 * 1024));
    const placed = vi.spyOn(ContentAssembler.prototype, 'placed');
    // The first frames whole, then the client is left waiting in the middle of a frame read in place.
    await trickle((b) => peer.writeRaw(b), stream.subarray(0, 3 * FRAME_PAYLOAD + 40_000), 60_000);
    await waitFor(() => placed.mock.calls.length > 0, 'a read in place', 2000);
    placed.mockRestore();
    peer.destroy();
    const err = await within(closed, 3000, "the connection's close event");
    expect(err).toBeInstanceOf(ConnectionError);
    expect(conn.state).toBe('closed');
    expect(received).toEqual([]);
  });
});
