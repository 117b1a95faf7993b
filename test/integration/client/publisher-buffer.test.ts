/**
 * The Publisher (confirmed publishing with a bounded buffer) against a fake channel: no broker, every
 * confirm and channel failure under the test's control.
 */
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PublishNackedError, PublishTimeoutError, UnroutableError } from '../../../src/client/errors.js';
import { type OutgoingMessage, Publisher } from '../../../src/client/publisher.js';
import type { Channel, PublishOptions, ReturnedMessage } from '../../../src/connection/channel.js';
import { ChannelError, ConnectionError, EncodeError, WarrenError } from '../../../src/protocol/errors.js';
import type { BasicProperties } from '../../../src/protocol/spec.js';

interface Write {
  options: PublishOptions;
  body: Buffer;
  properties: BasicProperties;
  settled: boolean;
  pending: { resolve(): void; reject(err: Error): void };
  /** The broker's ack. */
  ack(): void;
  /** The broker's nack (or any error the channel reports for this one publish). */
  fail(err: Error): void;
}

/**
 * What Publisher uses of a Channel in confirm mode, with the real channel's rules: a publish on a closed
 * channel fails at once; closing the channel fails every unconfirmed publish (synchronously, before
 * anyone hears of the close), after which no confirm can arrive. Supports both ways of publishing
 * (basicPublish's promise, publishConfirmed's callback object) so the tests do not depend on which one
 * the Publisher uses.
 */
class FakeChannel extends EventEmitter {
  isOpen = true;
  readonly writes: Write[] = [];
  /** messageIds whose publish fails to encode (thrown at once, nothing sent). */
  readonly unencodable = new Set<string>();

  basicPublish(options: PublishOptions, body: Uint8Array | string, properties: BasicProperties = {}): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      try {
        this.publishConfirmed(options, body, properties, { resolve, reject });
      } catch (err) {
        reject(err);
      }
    });
  }

  publishConfirmed(
    options: PublishOptions,
    body: Uint8Array | string,
    properties: BasicProperties,
    pending: { resolve(): void; reject(err: Error): void },
  ): void {
    if (!this.isOpen) throw new ChannelError('cannot basic.publish: channel is closed', { code: 'ERR_CHANNEL_CLOSED' });
    if (this.unencodable.has(String(properties.messageId))) throw new EncodeError('shortstr too long');
    const w: Write = {
      options,
      body: Buffer.from(body),
      properties,
      settled: false,
      pending,
      ack: () => {
        if (w.settled) throw new Error('settled twice');
        w.settled = true;
        pending.resolve();
      },
      fail: (err) => {
        if (w.settled) throw new Error('settled twice');
        w.settled = true;
        pending.reject(err);
      },
    };
    this.writes.push(w);
  }

  /** messageIds in write order. */
  get ids(): string[] {
    return this.writes.map((w) => String(w.properties.messageId));
  }

  write(id: string): Write {
    const w = this.writes.find((x) => x.properties.messageId === id);
    if (!w) throw new Error(`${id} was not written on this channel (written: ${this.ids.join(', ')})`);
    return w;
  }

  /** The channel closes: every unconfirmed publish fails with `err`, as ConfirmTracker.failAll does. */
  close(err: Error = new ChannelError('channel closed', { code: 'ERR_CHANNEL_CLOSED' })): void {
    this.isOpen = false;
    for (const w of this.writes) if (!w.settled) w.fail(err);
  }

  asChannel(): Channel {
    return this as unknown as Channel;
  }
}

function message(id: string, bytes = 10, routingKey = 'q'): OutgoingMessage {
  return { exchange: '', routingKey, mandatory: true, body: Buffer.alloc(bytes, 1), properties: { messageId: id } };
}

interface Tracked {
  state: 'pending' | 'resolved' | 'rejected';
  error?: unknown;
  at?: number;
}

/** Publishes and records how (and when) the promise settles. */
function publish(p: Publisher, id: string, bytes = 10, order?: string[], timeoutMs?: number): Tracked {
  const t: Tracked = { state: 'pending' };
  p.publish(message(id, bytes), timeoutMs).then(
    () => {
      t.state = 'resolved';
      t.at = Date.now();
      order?.push(id);
    },
    (err: unknown) => {
      t.state = 'rejected';
      t.error = err;
      t.at = Date.now();
      order?.push(id);
    },
  );
  return t;
}

/** Has the broker take one publish to `exchange` on a throwaway channel, so later ones are not written alone. */
async function proveExchange(p: Publisher, exchange: string): Promise<void> {
  const ch = new FakeChannel();
  p.attach(ch.asChannel());
  const done = p.publish({ ...message(`warm-up-${exchange}`), exchange });
  ch.writes[0]!.ack();
  await done;
  p.detach(new ConnectionError('warm-up done'));
}

/** Lets every pending promise callback run. */
function settle(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

describe('Publisher: buffer limits', () => {
  it('holds at most maxBufferedMessages; a publish that finds no room rejects with PublishTimeoutError after publishTimeoutMs', async () => {
    const p = new Publisher({ maxBufferedMessages: 2, publishTimeoutMs: 80 });
    // publishTimeoutMs is the whole publish's deadline: the held ones get longer deadlines of their own.
    const a = publish(p, 'a', 10, undefined, 10_000);
    const b = publish(p, 'b', 10, undefined, 10_000);
    const t0 = Date.now();
    const c = publish(p, 'c');
    await settle();
    expect(p.size).toBe(2);
    expect(c.state).toBe('pending');
    await new Promise((r) => setTimeout(r, 150));
    expect(c.state).toBe('rejected');
    expect(c.error).toBeInstanceOf(PublishTimeoutError);
    expect((c.error as Error).message).toContain('80 ms');
    expect(c.at! - t0).toBeGreaterThanOrEqual(75);
    // The held messages are untouched and still go out once there is a channel.
    expect([a.state, b.state]).toEqual(['pending', 'pending']);
    expect(p.size).toBe(2);
    const ch = new FakeChannel();
    p.attach(ch.asChannel());
    expect(ch.ids).toEqual(['a', 'b']);
    for (const w of ch.writes) w.ack();
    await settle();
    expect([a.state, b.state]).toEqual(['resolved', 'resolved']);
    expect(p.size).toBe(0);
  });

  it('also bounds the bytes held; an oversized message still passes when nothing else is held', async () => {
    const p = new Publisher({ maxBufferedBytes: 100, publishTimeoutMs: 60 });
    const a = publish(p, 'a', 60, undefined, 10_000);
    const b = publish(p, 'b', 60);
    await settle();
    expect(p.size).toBe(1);
    expect(p.bytes).toBe(60);
    await new Promise((r) => setTimeout(r, 120));
    expect(b.state).toBe('rejected');
    expect(b.error).toBeInstanceOf(PublishTimeoutError);
    const ch = new FakeChannel();
    p.attach(ch.asChannel());
    ch.write('a').ack();
    await settle();
    expect(a.state).toBe('resolved');
    const big = publish(p, 'big', 500);
    await settle();
    expect(p.size).toBe(1);
    expect(ch.ids).toEqual(['a', 'big']);
    ch.write('big').ack();
    await settle();
    expect(big.state).toBe('resolved');
  });

  it('room freed by confirms wakes waiting publishes in order, ahead of newer publishes', async () => {
    const p = new Publisher({ maxBufferedMessages: 2, publishTimeoutMs: 5000 });
    const ch = new FakeChannel();
    p.attach(ch.asChannel());
    const order: string[] = [];
    const t = Object.fromEntries(['a', 'b', 'c', 'd', 'e'].map((id) => [id, publish(p, id, 10, order)]));
    await settle();
    expect(ch.ids).toEqual(['a', 'b']);
    let maxHeld = p.size;
    ch.write('a').ack();
    // A newcomer arriving just as room frees up queues behind the waiters.
    t.f = publish(p, 'f', 10, order);
    await settle();
    maxHeld = Math.max(maxHeld, p.size);
    expect(ch.ids).toEqual(['a', 'b', 'c']);
    for (const next of ['b', 'c', 'd', 'e']) {
      ch.write(next).ack();
      await settle();
      maxHeld = Math.max(maxHeld, p.size);
    }
    expect(ch.ids).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    ch.write('f').ack();
    await settle();
    expect(order).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(Object.values(t).map((x) => x.state)).toEqual(Array(6).fill('resolved'));
    expect(maxHeld).toBeLessThanOrEqual(2);
    expect(p.size).toBe(0);
  });
});

describe('Publisher: channel failures', () => {
  it('detach() puts in-flight messages back in order; attach() publishes them again, same messageId, before newer ones', async () => {
    const p = new Publisher();
    const ch1 = new FakeChannel();
    p.attach(ch1.asChannel());
    const t = ['1', '2', '3', '4', '5'].map((id) => publish(p, id));
    await settle();
    expect(ch1.ids).toEqual(['1', '2', '3', '4', '5']);
    ch1.write('1').ack();
    await settle();
    expect(p.inFlight).toBe(4);
    // The channel dies: its unconfirmed publishes fail with the close, which the publisher takes as
    // "put back", not as a verdict on the messages.
    const lost = new ConnectionError('connection lost');
    ch1.close(lost);
    p.detach(lost);
    expect(p.size).toBe(4);
    expect(p.inFlight).toBe(0);
    const six = publish(p, '6');
    await settle();
    expect(t.map((x) => x.state)).toEqual(['resolved', 'pending', 'pending', 'pending', 'pending']);
    expect(p.size).toBe(5);

    const ch2 = new FakeChannel();
    p.attach(ch2.asChannel());
    expect(ch2.ids).toEqual(['2', '3', '4', '5', '6']);
    expect(ch2.writes.map((w) => w.body.length)).toEqual([10, 10, 10, 10, 10]);
    for (const w of ch2.writes) w.ack();
    await settle();
    expect([...t, six].map((x) => x.state)).toEqual(Array(6).fill('resolved'));
    expect(p.size).toBe(0);
  });

  it('channel failures that are no verdict on the messages (no reply code from the broker) never reject them', async () => {
    const p = new Publisher();
    const kept = publish(p, 'kept');
    const errors = [
      new ChannelError('first'),
      new ConnectionError('second'),
      new ChannelError('third'),
      new ChannelError('fourth'),
    ];
    for (const err of errors) {
      const ch = new FakeChannel();
      p.attach(ch.asChannel());
      await settle();
      expect(ch.ids).toEqual(['kept']);
      ch.close(err);
      p.detach(err);
      await settle();
      expect(kept.state).toBe('pending');
    }
    const ch = new FakeChannel();
    p.attach(ch.asChannel());
    ch.write('kept').ack();
    await settle();
    expect(kept.state).toBe('resolved');
    expect(p.size).toBe(0);
  });

  it('detach() with a 404 that names the exchange rejects just the messages sent there', async () => {
    const p = new Publisher();
    await proveExchange(p, 'missing'); // it existed: messages to it are written among the others
    const ch1 = new FakeChannel();
    p.attach(ch1.asChannel());
    const good1 = publish(p, 'good1');
    const bad = p.publish({ ...message('bad'), exchange: 'missing' });
    const badOutcome = bad.then(
      () => 'resolved',
      (e: unknown) => e,
    );
    const good2 = publish(p, 'good2');
    await settle();
    const err = new ChannelError("NOT_FOUND - no exchange 'missing' in vhost '/'", {
      replyCode: 404,
      replyText: "NOT_FOUND - no exchange 'missing' in vhost '/'",
    });
    ch1.close(err);
    p.detach(err);
    expect(await badOutcome).toBe(err);
    const ch2 = new FakeChannel();
    p.attach(ch2.asChannel());
    expect(ch2.ids).toEqual(['good1', 'good2']);
    for (const w of ch2.writes) w.ack();
    await settle();
    expect([good1.state, good2.state]).toEqual(['resolved', 'resolved']);
  });

  it('detach() survives confirms that arrived out of order (a settled message behind one it rejects)', async () => {
    // Confirms for messages routed to different queues may arrive out of order, so an entry in flight
    // can be settled while an earlier one is not. detach() must still put every unsettled one back.
    const p = new Publisher();
    await proveExchange(p, 'missing');
    const ch1 = new FakeChannel();
    p.attach(ch1.asChannel());
    const bad = p.publish({ ...message('bad'), exchange: 'missing' }).catch((e: unknown) => e);
    const early = publish(p, 'early');
    const later = publish(p, 'later');
    await settle();
    ch1.write('early').ack();
    await settle();
    expect(early.state).toBe('resolved');
    const err = new ChannelError("NOT_FOUND - no exchange 'missing' in vhost '/'", {
      replyCode: 404,
      replyText: "NOT_FOUND - no exchange 'missing' in vhost '/'",
    });
    ch1.close(err);
    expect(() => p.detach(err)).not.toThrow();
    expect(await bad).toBe(err);
    const ch2 = new FakeChannel();
    p.attach(ch2.asChannel());
    expect(ch2.ids).toEqual(['later']);
    ch2.write('later').ack();
    await settle();
    expect(later.state).toBe('resolved');
    expect(p.size).toBe(0);
  });
});

describe('Publisher: nacks', () => {
  // Retry backoff runs on timers; the tests step through it.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const nack = () => new ChannelError('broker nacked publish', { code: 'ERR_PUBLISH_NACKED' });

  it('publishes a nacked message again after 100 ms, ahead of later ones, and resolves on the ack', async () => {
    const p = new Publisher();
    const ch = new FakeChannel();
    p.attach(ch.asChannel());
    const first = publish(p, 'first');
    await settle();
    ch.writes[0]!.fail(nack()); // e.g. a quorum queue without a leader for a moment
    const second = publish(p, 'second');
    await settle();
    expect(ch.ids).toEqual(['first', 'second']);
    expect(first.state).toBe('pending');
    expect(p.size).toBe(2); // still held, counted against the buffer
    vi.advanceTimersByTime(99);
    expect(ch.ids).toEqual(['first', 'second']);
    vi.advanceTimersByTime(1);
    expect(ch.ids).toEqual(['first', 'second', 'first']);
    ch.writes[2]!.ack();
    ch.writes[1]!.ack();
    await settle();
    expect(first.state).toBe('resolved');
    expect(second.state).toBe('resolved');
    expect(p.size).toBe(0);
    // Only the buffer's deadline sweep is left (unref'd); finding nothing held, it ends by itself.
    expect(vi.getTimerCount()).toBeLessThanOrEqual(1);
    vi.advanceTimersByTime(30_000);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with PublishNackedError after maxNackRetries, waiting longer each time', async () => {
    const p = new Publisher({ maxNackRetries: 3 });
    const ch = new FakeChannel();
    p.attach(ch.asChannel());
    const t = publish(p, 'doomed');
    await settle();
    const waits: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      ch.writes[attempt - 1]!.fail(nack());
      let waited = 0;
      while (ch.writes.length === attempt) {
        vi.advanceTimersByTime(10);
        waited += 10;
      }
      waits.push(waited);
    }
    ch.writes[3]!.fail(nack());
    await settle();
    expect(waits).toEqual([100, 200, 400]);
    expect(t.error).toBeInstanceOf(PublishNackedError);
    expect((t.error as PublishNackedError).message).toContain('4 attempts');
    expect(p.size).toBe(0);
  });

  it('reports a channel that nacks the same message again (once), so its owner can replace it', async () => {
    const p = new Publisher();
    const reported: Channel[] = [];
    p.onNackingChannel = (ch) => reported.push(ch);
    const ch1 = new FakeChannel();
    p.attach(ch1.asChannel());
    const t = publish(p, 'm');
    await settle();
    ch1.writes[0]!.fail(nack());
    expect(reported).toEqual([]); // one nack can be a passing state
    vi.advanceTimersByTime(100);
    ch1.writes[1]!.fail(nack());
    expect(reported).toEqual([ch1.asChannel()]);
    vi.advanceTimersByTime(200);
    ch1.writes[2]!.fail(nack());
    expect(reported).toHaveLength(1); // once per channel
    // The owner swaps channels: what waits is written on the new one, which acks it.
    const gone = new WarrenError('publish channel replaced', { code: 'ERR_CHANNEL_REPLACED' });
    p.detach(gone);
    const ch2 = new FakeChannel();
    p.attach(ch2.asChannel());
    vi.advanceTimersByTime(400);
    expect(ch2.ids).toEqual(['m']);
    ch2.writes[0]!.ack();
    await settle();
    expect(t.state).toBe('resolved');
  });

  it('a channel lost while nacked messages wait neither loses nor doubles them; close() rejects them', async () => {
    const p = new Publisher();
    const ch1 = new FakeChannel();
    p.attach(ch1.asChannel());
    const a = publish(p, 'a');
    const b = publish(p, 'b');
    await settle();
    ch1.writes[0]!.fail(nack());
    const lost = new ConnectionError('connection lost', { code: 'ERR_CONNECTION_LOST' });
    ch1.close(lost);
    p.detach(lost);
    const ch2 = new FakeChannel();
    p.attach(ch2.asChannel());
    expect(ch2.ids).toEqual(['b']); // 'a' waits for its retry
    vi.advanceTimersByTime(100);
    expect(ch2.ids).toEqual(['b', 'a']);
    ch2.writes[0]!.ack();
    await settle();
    expect(b.state).toBe('resolved');
    ch2.writes[1]!.fail(nack());
    p.close(new Error('closing'));
    await settle();
    expect(a.state).toBe('rejected');
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('Publisher: outcomes', () => {
  it('nack (retries off) -> PublishNackedError; basic.return then ack -> UnroutableError; encode error -> that error', async () => {
    const p = new Publisher({ maxNackRetries: 0 });
    const ch = new FakeChannel();
    ch.unencodable.add('unencodable');
    p.attach(ch.asChannel());
    const nacked = publish(p, 'nacked');
    const returned = publish(p, 'returned');
    const unencodable = publish(p, 'unencodable');
    const fine = publish(p, 'fine');
    await settle();
    ch.write('nacked').fail(new ChannelError('broker nacked publish 1', { code: 'ERR_PUBLISH_NACKED' }));
    const back: ReturnedMessage = {
      replyCode: 312,
      replyText: 'NO_ROUTE',
      exchange: '',
      routingKey: 'q',
      properties: { messageId: 'returned' },
      body: Buffer.alloc(10, 1),
    };
    ch.emit('return', back);
    ch.write('returned').ack();
    ch.write('fine').ack();
    await settle();
    expect(nacked.error).toBeInstanceOf(PublishNackedError);
    expect(returned.error).toBeInstanceOf(UnroutableError);
    expect((returned.error as UnroutableError).replyCode).toBe(312);
    expect(unencodable.error).toBeInstanceOf(EncodeError);
    expect(ch.ids).toEqual(['nacked', 'returned', 'fine']);
    expect(fine.state).toBe('resolved');
    expect(p.size).toBe(0);
  });

  it('pause() holds writes (connection.blocked) and resume() sends them in order', async () => {
    const p = new Publisher();
    const ch = new FakeChannel();
    p.attach(ch.asChannel());
    p.pause();
    publish(p, 'x');
    publish(p, 'y');
    await settle();
    expect(ch.ids).toEqual([]);
    expect(p.size).toBe(2);
    p.resume();
    expect(ch.ids).toEqual(['x', 'y']);
  });

  it('drain() resolves true once everything is confirmed, false after its timeout', async () => {
    const p = new Publisher();
    const ch = new FakeChannel();
    p.attach(ch.asChannel());
    publish(p, 'a');
    await settle();
    const timedOut = await p.drain(30);
    expect(timedOut).toBe(false);
    const drained = p.drain(5000);
    ch.write('a').ack();
    expect(await drained).toBe(true);
    expect(await p.drain(10)).toBe(true);
  });
});

describe('Publisher: close()', () => {
  it('rejects everything held (in flight and queued) and later publishes, until reopen()', async () => {
    const p = new Publisher();
    const ch = new FakeChannel();
    p.attach(ch.asChannel());
    const inflight = publish(p, 'inflight');
    await settle();
    p.pause();
    const queued = publish(p, 'queued');
    await settle();
    const err = new Error('closing');
    p.close(err);
    await settle();
    expect([inflight.state, queued.state]).toEqual(['rejected', 'rejected']);
    expect(inflight.error).toBe(err);
    expect(queued.error).toBe(err);
    expect(p.size).toBe(0);
    // A late confirm of the old write changes nothing.
    ch.write('inflight').ack();
    const after = publish(p, 'after');
    await settle();
    expect(after.error).toBe(err);
    p.reopen();
    p.resume();
    const again = publish(p, 'again');
    await settle();
    expect(again.state).toBe('pending');
    expect(p.size).toBe(1);
  });

  it('rejects publishes waiting for room too, even though rejecting the held ones frees room for them', async () => {
    // disconnect() during an outage with a full buffer: every publishMessage promise must settle.
    const p = new Publisher({ maxBufferedMessages: 2, publishTimeoutMs: 10_000 });
    const held = [publish(p, 'h1'), publish(p, 'h2')];
    const waiting = [publish(p, 'w1'), publish(p, 'w2'), publish(p, 'w3')];
    await settle();
    expect(p.size).toBe(2);
    const err = new Error('disconnect() was called');
    p.close(err);
    await settle();
    expect(held.map((t) => t.state)).toEqual(['rejected', 'rejected']);
    expect(waiting.map((t) => t.state)).toEqual(['rejected', 'rejected', 'rejected']);
    for (const t of waiting) expect(t.error).toBe(err);
    expect(p.size).toBe(0);
    // Nothing from before close() may surface on a later connection.
    p.reopen();
    const ch = new FakeChannel();
    p.attach(ch.asChannel());
    expect(ch.ids).toEqual([]);
  });

  it('rejects a publish whose wait for room ended just before close()', async () => {
    const p = new Publisher({ maxBufferedMessages: 1, publishTimeoutMs: 10_000 });
    const ch = new FakeChannel();
    p.attach(ch.asChannel());
    const first = p.publish(message('first'));
    const waiter = publish(p, 'waiter');
    await settle();
    const err = new Error('closed');
    // Runs as soon as 'first' is confirmed (which also wakes 'waiter'), before 'waiter' resumes.
    void first.then(() => p.close(err));
    ch.write('first').ack();
    await settle();
    await settle();
    expect(waiter.state).toBe('rejected');
    expect(waiter.error).toBe(err);
    expect(p.size).toBe(0);
    expect(ch.ids).toEqual(['first']);
  });
});
