/**
 * Well-formed frames that make no sense where a hostile server puts them: a method for a channel that was
 * never opened, content out of order, confirms for publishes that never happened; and the legitimate
 * channel.close(406), which must close only its channel.
 */
import { describe, expect, it } from 'vitest';
import type { Channel, Delivery } from '../../src/connection/channel.js';
import type { Connection } from '../../src/connection/connection.js';
import { ChannelError, ConnectionError } from '../../src/protocol/errors.js';
import { bodyFrame, type FakePeer, headerFrame, methodFrame } from './fake-broker.js';
import {
  closeCleanly,
  expectProtocolFailure,
  nextClose,
  openChannel,
  openConnection,
  settle,
  trackUnhandledRejections,
  useFakeBroker,
  within,
} from './support.js';

trackUnhandledRejections();

/** A channel with a consumer 'ctag' on queue 'q'; collects what it receives. */
async function consumingChannel(conn: Connection, peer: FakePeer): Promise<{ ch: Channel; received: Delivery[] }> {
  const ch = await openChannel(conn, peer);
  const received: Delivery[] = [];
  const consuming = ch.basicConsume({ queue: 'q', consumerTag: 'ctag' }, (d) => received.push(d));
  await peer.expectMethod('basic.consume', { channel: ch.id });
  peer.send(ch.id, 'basic.consume-ok', { consumerTag: 'ctag' });
  expect(await consuming).toEqual({ consumerTag: 'ctag' });
  return { ch, received };
}

const deliver = (channel = 1, deliveryTag = 1) =>
  methodFrame(channel, 'basic.deliver', { consumerTag: 'ctag', deliveryTag, exchange: '', routingKey: 'q' });

describe('a method for a channel that is not open', () => {
  const fx = useFakeBroker('close-ok');

  it('closes the connection with 505 UNEXPECTED_FRAME and sends connection.close(505)', async () => {
    const { conn, peer } = await openConnection(fx.broker);
    const ch = await openChannel(conn, peer);
    const closed = nextClose(conn);
    const channelClosed = new Promise((resolve) => ch.once('close', resolve));
    peer.writeRaw(deliver(7));
    const err = await within(closed, 2000, "the connection's close event");

    const e = expectProtocolFailure(err, 505, 'UNEXPECTED_FRAME');
    expect(e.message).toMatch(/channel 7/);
    const close = await peer.expectMethod('connection.close', { channel: 0 });
    expect(close.replyCode).toBe(505);
    expect(close.replyText).toMatch(/channel 7/);
    // Nothing was sent on channel 7 (no reject of a delivery on a channel that does not exist).
    expect(peer.frames.filter((f) => f.channel === 7)).toEqual([]);
    // The open channel fell with the connection.
    expect(await within(channelClosed, 1000, "channel 1's close event")).toBeInstanceOf(ConnectionError);
    await peer.expectClientGone();
  });
});

describe('a channel.close(406) from the server', () => {
  const fx = useFakeBroker('close-ok');

  it('closes only that channel with a ChannelError, answers close-ok, and leaves the connection usable', async () => {
    const { conn, peer } = await openConnection(fx.broker);
    let connectionClosed = false;
    conn.on('close', () => {
      connectionClosed = true;
    });
    const ch = await openChannel(conn, peer);
    const channelClosed = new Promise<unknown>((resolve) => ch.once('close', resolve));
    const declare = settle(ch.queueDeclare({ queue: 'q', durable: true }));
    const queuedBehind = settle(ch.queueBind({ queue: 'q', exchange: 'x' }));
    await peer.expectMethod('queue.declare', { channel: 1 });
    peer.send(1, 'channel.close', {
      replyCode: 406,
      replyText: "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q' in vhost '/'",
      classId: 50,
      methodId: 10,
    });

    const err = await within(channelClosed, 2000, "the channel's close event");
    expect(err).toBeInstanceOf(ChannelError);
    expect(err).not.toBeInstanceOf(ConnectionError);
    const e = err as ChannelError;
    expect({
      replyCode: e.replyCode,
      code: e.code,
      classId: e.classId,
      methodId: e.methodId,
      methodName: e.methodName,
      recoverable: e.recoverable,
    }).toEqual({
      replyCode: 406,
      code: 'PRECONDITION_FAILED',
      classId: 50,
      methodId: 10,
      methodName: 'queue.declare',
      recoverable: false,
    });
    expect(e.replyText).toMatch(/inequivalent arg 'durable'/);
    // The call in flight fails with that error; the one queued behind it fails too.
    expect(await declare).toEqual({ ok: false, error: err });
    const behind = await queuedBehind;
    expect(behind.ok).toBe(false);
    if (!behind.ok) expect(behind.error).toBeInstanceOf(ChannelError);
    // The client acknowledged on that channel, and did not close the connection.
    await peer.expectMethod('channel.close-ok', { channel: 1 });
    expect(peer.methods('connection.close')).toEqual([]);
    expect(ch.isOpen).toBe(false);
    await expect(ch.queueDeclare({ queue: 'q' })).rejects.toBeInstanceOf(ChannelError);

    // The connection carries on: a new channel opens and works.
    expect(conn.isOpen).toBe(true);
    expect(conn.channelCount).toBe(0);
    const ch2 = await openChannel(conn, peer);
    expect(ch2.isOpen).toBe(true);
    const declared = ch2.queueDeclare({ queue: 'q2' });
    await peer.expectMethod('queue.declare', { channel: ch2.id });
    peer.send(ch2.id, 'queue.declare-ok', { queue: 'q2', messageCount: 3, consumerCount: 0 });
    expect(await declared).toEqual({ queue: 'q2', messageCount: 3, consumerCount: 0 });
    expect(connectionClosed).toBe(false);
    await closeCleanly(conn, peer);
  });
});

describe('content out of order', () => {
  const fx = useFakeBroker('close-ok-then-end');

  it('delivers a well-formed message (the cases below fail for the right reason)', async () => {
    const { conn, peer } = await openConnection(fx.broker);
    const { received } = await consumingChannel(conn, peer);
    peer.writeRaw(
      Buffer.concat([deliver(), headerFrame(1, 5), bodyFrame(1, Buffer.from('hel')), bodyFrame(1, Buffer.from('lo'))]),
    );
    await within(
      (async () => {
        while (received.length === 0) await new Promise((r) => setTimeout(r, 5));
      })(),
      1000,
      'the delivery',
    );
    expect(received.map((d) => [d.deliveryTag, d.body.toString()])).toEqual([[1, 'hello']]);
    expect(conn.isOpen).toBe(true);
    await closeCleanly(conn, peer);
  });

  it.each([
    {
      what: 'a body frame without a content method or header',
      code: 505,
      frames: () => [bodyFrame(1, Buffer.from('hello'))],
    },
    {
      what: 'a body frame right after basic.deliver',
      code: 505,
      frames: () => [deliver(), bodyFrame(1, Buffer.from('hello'))],
    },
    { what: 'a content header without a content method', code: 505, frames: () => [headerFrame(1, 5)] },
    {
      what: 'a content header of class 50 (queue) after basic.deliver',
      code: 505,
      frames: () => [deliver(), headerFrame(1, 5, 50)],
    },
    {
      what: 'another method between basic.deliver and its header',
      code: 505,
      frames: () => [deliver(), methodFrame(1, 'channel.flow', { active: false })],
    },
    {
      what: 'another method between the header and the body',
      code: 505,
      frames: () => [deliver(), headerFrame(1, 5), methodFrame(1, 'basic.cancel', { consumerTag: 'ctag' })],
    },
    {
      what: 'a second basic.deliver before the content of the first',
      code: 505,
      frames: () => [deliver(1, 1), deliver(1, 2)],
    },
    {
      what: 'more body than the header declared',
      code: 501,
      frames: () => [deliver(), headerFrame(1, 5), bodyFrame(1, Buffer.from('hello, world'))],
    },
  ])('closes the connection with $code for $what', async ({ code, frames }) => {
    const { conn, peer } = await openConnection(fx.broker);
    const { ch, received } = await consumingChannel(conn, peer);
    const closed = nextClose(conn);
    peer.writeRaw(Buffer.concat(frames()));
    const err = await within(closed, 2000, "the connection's close event");

    expectProtocolFailure(err, code, code === 505 ? 'UNEXPECTED_FRAME' : 'FRAME_ERROR');
    expect(await peer.expectMethod('connection.close', { channel: 0 })).toMatchObject({ replyCode: code });
    expect(received).toEqual([]);
    expect(ch.isOpen).toBe(false);
    expect(ch.error).toBeInstanceOf(ConnectionError);
    // Flow was not switched off by a method that arrived out of place.
    expect(ch.flowActive).toBe(true);
    await peer.expectClientGone();
  });
});

describe('confirms for publishes that never happened', () => {
  const fx = useFakeBroker('close-ok');

  async function publishOne(confirm: boolean) {
    const { conn, peer } = await openConnection(fx.broker);
    const ch = await openChannel(conn, peer);
    if (confirm) {
      const selecting = ch.confirmSelect();
      await peer.expectMethod('confirm.select', { channel: 1 });
      peer.send(1, 'confirm.select-ok', {});
      await selecting;
    }
    const published = settle(ch.basicPublish({ routingKey: 'q' }, 'payload'));
    await peer.expectMethod('basic.publish', { channel: 1 });
    return { conn, peer, ch, published };
  }

  it('settles a publish on the ack of its delivery tag (the cases below fail for the right reason)', async () => {
    const { conn, peer, ch, published } = await publishOne(true);
    expect(ch.unconfirmed).toBe(1);
    peer.send(1, 'basic.ack', { deliveryTag: 1, multiple: false });
    expect(await within(published, 1000, 'the publish')).toEqual({ ok: true, value: undefined });
    await closeCleanly(conn, peer);
  });

  it.each([
    {
      what: 'basic.ack of delivery tag 2 when only 1 was published',
      confirm: true,
      method: 'basic.ack' as const,
      tag: 2,
    },
    {
      what: 'basic.ack of delivery tag 5, multiple',
      confirm: true,
      method: 'basic.ack' as const,
      tag: 5,
      multiple: true,
    },
    {
      what: 'basic.nack of delivery tag 2 when only 1 was published',
      confirm: true,
      method: 'basic.nack' as const,
      tag: 2,
    },
    { what: 'basic.ack on a channel not in confirm mode', confirm: false, method: 'basic.ack' as const, tag: 1 },
  ])('closes the connection with 503 for a $what', async ({ confirm, method, tag, multiple }) => {
    const { conn, peer, ch, published } = await publishOne(confirm);
    const closed = nextClose(conn);
    peer.send(1, method, { deliveryTag: tag, multiple: multiple ?? false });
    const err = await within(closed, 2000, "the connection's close event");

    const e = expectProtocolFailure(err, 503, 'COMMAND_INVALID');
    expect(e.message).toMatch(confirm ? /never published/ : /not in confirm mode/);
    expect(await peer.expectMethod('connection.close', { channel: 0 })).toMatchObject({ replyCode: 503 });
    // The publish in flight was not settled by the bogus confirm: it fails with the connection.
    const outcome = await within(published, 1000, 'the publish');
    if (confirm) {
      expect(outcome.ok).toBe(false);
      if (!outcome.ok) {
        expect(outcome.error).toBeInstanceOf(ConnectionError);
        expect((outcome.error as ConnectionError).replyCode).toBe(503);
      }
    }
    expect(ch.isOpen).toBe(false);
    await peer.expectClientGone();
  });
});
