/**
 * When a channel writes its coalesced acks: after the `ackDelay` connect option, at once when half the prefetch window
 * is owed, and always before any other frame of the channel or its close. A Channel is driven here without
 * a socket: frames go in through a FrameDecoder, and what it writes is decoded from its FrameOutput.
 */
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Channel, type ChannelHost } from '../../../src/connection/channel.js';
import { FrameOutput } from '../../../src/connection/frame-output.js';
import { FrameDecoder, frameObjects, writeMethodFrame } from '../../../src/protocol/frame.js';
import { FRAME_METHOD, type Method, type MethodInputs, type MethodName } from '../../../src/protocol/spec.js';
import { BufferWriter } from '../../../src/protocol/writer.js';

const CH = 1;
const ACK_DELAY = 5;

/** A channel on a fake host: `sent` is every method it wrote, `receive` feeds it broker methods. */
function harness(ackDelay = ACK_DELAY) {
  const stream = new PassThrough();
  const output = new FrameOutput(stream);
  const sent: Method[] = [];
  const fail = (err: Error) => {
    throw err;
  };
  const outgoing = new FrameDecoder(
    frameObjects((f) => {
      if (f.type === FRAME_METHOD) sent.push(f.method);
    }, fail),
  );
  stream.on('data', (chunk: Buffer) => outgoing.push(chunk));
  const host: ChannelHost = {
    output,
    frameMax: 131072,
    ackDelay,
    rpcTimeoutMs: 30_000,
    releaseChannel: () => {},
    retireChannel: () => {},
    protocolError: fail,
  };
  const channel = new Channel(host, CH);
  const incoming = new FrameDecoder({
    method: (_, m) => channel.onMethodFrame(m),
    header: (_, bodySize, properties) => channel.onHeaderFrame(bodySize, properties),
    body: (_, payload) => channel.onBodyFrame(payload),
    heartbeat: () => {},
    error: fail,
  });
  const receive = <N extends MethodName>(name: N, args: MethodInputs[N]) => {
    const w = new BufferWriter(256);
    writeMethodFrame(w, CH, name, args);
    incoming.push(Buffer.from(w.take()!));
  };
  /** A delivery with an empty body: method and content header. */
  const deliver = (deliveryTag: number) => {
    receive('basic.deliver', { consumerTag: 'c', deliveryTag, exchange: '', routingKey: 'q' });
    const header = Buffer.from([2, 0, CH, 0, 0, 0, 14, 0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xce]);
    incoming.push(header);
  };
  /** Lets nextTick-scheduled flushes and the stream's data events run. */
  const flushIo = () => new Promise<void>((resolve) => setImmediate(resolve));
  const acks = () => sent.filter((m) => m.name === 'basic.ack');
  return { channel, sent, receive, deliver, flushIo, acks, output };
}

/** Opens the channel and starts consumer 'c' on it, optionally with a prefetch count first. */
async function consuming(h: ReturnType<typeof harness>, prefetchCount?: number): Promise<void> {
  const opened = h.channel.open();
  h.receive('channel.open-ok', {});
  await opened;
  if (prefetchCount !== undefined) {
    const qos = h.channel.basicQos({ prefetchCount });
    h.receive('basic.qos-ok', {});
    await qos;
  }
  const consume = h.channel.basicConsume({ queue: 'q', consumerTag: 'c' }, () => {});
  h.receive('basic.consume-ok', { consumerTag: 'c' });
  await consume;
  await h.flushIo();
  h.sent.length = 0;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('coalesced acks', () => {
  it('without a prefetch limit wait ackDelay ms, then go out as one multiple ack', async () => {
    const h = harness();
    await consuming(h);
    for (let tag = 1; tag <= 3; tag++) {
      h.deliver(tag);
      expect(h.channel.basicAck(tag)).toBe(true);
      await h.flushIo(); // several socket reads' worth of acks
    }
    expect(h.acks()).toEqual([]);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(ACK_DELAY - 1);
    await h.flushIo();
    expect(h.acks()).toEqual([]);
    vi.advanceTimersByTime(1);
    await h.flushIo();
    expect(h.acks()).toMatchObject([{ deliveryTag: 3, multiple: true }]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('go out with this tick once half the prefetch window is owed, so the broker never waits on them', async () => {
    const h = harness();
    await consuming(h, 4);
    h.deliver(1);
    h.channel.basicAck(1);
    await h.flushIo();
    expect(h.acks()).toEqual([]); // 1 owed of a window of 4: held
    h.deliver(2);
    h.channel.basicAck(2);
    await h.flushIo(); // no timer advanced: 2 of 4 owed is enough
    expect(h.acks()).toMatchObject([{ deliveryTag: 2, multiple: true }]);
    // The timer armed for the first ack finds nothing owed.
    vi.advanceTimersByTime(ACK_DELAY);
    await h.flushIo();
    expect(h.acks()).toHaveLength(1);
  });

  it('with ackDelay 0 they go out with the current tick, still coalesced', async () => {
    const h = harness(0);
    await consuming(h);
    h.deliver(1);
    h.deliver(2);
    h.channel.basicAck(1);
    h.channel.basicAck(2);
    await h.flushIo();
    expect(h.acks()).toMatchObject([{ deliveryTag: 2, multiple: true }]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('with prefetch 1 every ack goes out in its own tick', async () => {
    const h = harness();
    await consuming(h, 1);
    h.deliver(1);
    h.channel.basicAck(1);
    await h.flushIo();
    expect(h.acks()).toMatchObject([{ deliveryTag: 1, multiple: false }]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('the smallest prefetch set on the channel is the window', async () => {
    const h = harness();
    await consuming(h, 2);
    const qos = h.channel.basicQos({ prefetchCount: 100 });
    h.receive('basic.qos-ok', {});
    await qos;
    h.deliver(1);
    h.channel.basicAck(1);
    await h.flushIo();
    expect(h.acks()).toMatchObject([{ deliveryTag: 1 }]);
  });

  it('are written before any later frame of the channel', async () => {
    const h = harness();
    await consuming(h);
    h.deliver(1);
    h.deliver(2);
    h.channel.basicAck(1);
    h.channel.basicReject(2, { requeue: true });
    await h.flushIo();
    expect(h.sent.map((m) => m.name)).toEqual(['basic.ack', 'basic.reject']);
    expect(h.acks()).toMatchObject([{ deliveryTag: 1, multiple: false }]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('are written before channel.close, and no timer outlives the channel', async () => {
    const h = harness();
    await consuming(h);
    h.deliver(1);
    h.channel.basicAck(1);
    const closed = h.channel.close();
    await h.flushIo();
    expect(h.sent.map((m) => m.name)).toEqual(['basic.ack', 'channel.close']);
    h.receive('channel.close-ok', {});
    await closed;
    expect(vi.getTimerCount()).toBe(0);
  });

  it('owed when the channel is closed by the broker are dropped with their timer', async () => {
    const h = harness();
    await consuming(h);
    h.deliver(1);
    h.channel.basicAck(1);
    h.receive('channel.close', { replyCode: 406, replyText: 'PRECONDITION_FAILED', classId: 0, methodId: 0 });
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(ACK_DELAY);
    await h.flushIo();
    // The tags died with the channel: only the close-ok goes out.
    expect(h.sent.map((m) => m.name)).toEqual(['channel.close-ok']);
  });
});
