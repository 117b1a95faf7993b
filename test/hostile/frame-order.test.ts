/**
 * Frames of a channel reach the socket in the order they were issued, whatever else the connection writes
 * in between: a coalesced ack held for the tick must not overtake a nack written before it, not even when
 * another channel's large publish (a body over 64 KiB, written as chunks) forces a write mid-tick.
 */
import { describe, expect, it } from 'vitest';
import type { Channel } from '../../src/connection/channel.js';
import type { Connection } from '../../src/connection/connection.js';
import { FRAME_METHOD } from '../../src/protocol/index.js';
import { waitFor } from '../helpers/wait.js';
import { type FakePeer, headerFrame, methodFrame } from './fake-broker.js';
import { closeCleanly, openChannel, openConnection, trackUnhandledRejections, useFakeBroker } from './support.js';

trackUnhandledRejections();

/** A consuming channel with prefetch 10 that has received deliveries 1..count. */
async function consumerWithDeliveries(conn: Connection, peer: FakePeer, count: number): Promise<Channel> {
  const ch = await openChannel(conn, peer);
  const qos = ch.basicQos({ prefetchCount: 10 });
  await peer.expectMethod('basic.qos', { channel: ch.id });
  peer.send(ch.id, 'basic.qos-ok', {});
  await qos;
  let received = 0;
  const consuming = ch.basicConsume({ queue: 'q', consumerTag: 'ctag' }, () => {
    received++;
  });
  await peer.expectMethod('basic.consume', { channel: ch.id });
  peer.send(ch.id, 'basic.consume-ok', { consumerTag: 'ctag' });
  await consuming;
  const frames: Buffer[] = [];
  for (let tag = 1; tag <= count; tag++) {
    frames.push(
      methodFrame(ch.id, 'basic.deliver', { consumerTag: 'ctag', deliveryTag: tag, exchange: '', routingKey: 'q' }),
      headerFrame(ch.id, 0),
    );
  }
  peer.writeRaw(Buffer.concat(frames));
  await waitFor(() => received === count, `${count} deliveries`, 2000);
  return ch;
}

/** The settlements the broker received on `channel`, in arrival order, as `name tag[ multiple]`. */
function settlements(peer: FakePeer, channel: number): string[] {
  const out: string[] = [];
  for (const f of peer.frames) {
    if (f.type !== FRAME_METHOD || f.channel !== channel) continue;
    const m = f.method;
    if (m.name === 'basic.ack' || m.name === 'basic.nack')
      out.push(`${m.name} ${m.deliveryTag}${m.multiple ? ' multiple' : ''}`);
    if (m.name === 'basic.reject') out.push(`${m.name} ${m.deliveryTag}`);
  }
  return out;
}

describe('frame order on a channel', () => {
  const fx = useFakeBroker('close-ok');

  it.each([
    { what: 'another channel', sameChannel: false, settle: 'nack' as const },
    { what: 'another channel', sameChannel: false, settle: 'reject' as const },
    { what: 'the same channel', sameChannel: true, settle: 'nack' as const },
  ])(
    'a $settle before coalesced acks reaches the broker first when $what publishes a 100 KB body',
    async ({ sameChannel, settle }) => {
      const { conn, peer } = await openConnection(fx.broker);
      const ch = await consumerWithDeliveries(conn, peer, 6);
      const publisher = sameChannel ? ch : await openChannel(conn, peer);

      if (settle === 'nack') expect(ch.basicNack(1, { requeue: true })).toBe(true);
      else expect(ch.basicReject(1, { requeue: true })).toBe(true);
      for (let tag = 2; tag <= 6; tag++) expect(ch.basicAck(tag)).toBe(true);
      await publisher.basicPublish({ routingKey: 'results' }, Buffer.alloc(100 * 1024, 1));

      await waitFor(() => settlements(peer, ch.id).length >= 2, 'the settlements', 2000);
      const first = settle === 'nack' ? 'basic.nack 1' : 'basic.reject 1';
      expect(settlements(peer, ch.id)).toEqual([first, 'basic.ack 6 multiple']);
      // The publish arrived whole.
      await waitFor(() => peer.frames.some((f) => f.type === 3 && f.channel === publisher.id), 'the body', 2000);
      await closeCleanly(conn, peer);
    },
  );
});
