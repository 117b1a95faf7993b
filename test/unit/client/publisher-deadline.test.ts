/**
 * Every publish has a deadline and can be aborted. A message never written leaves the buffer and is never
 * sent; a message already written rejects at once but stays held until the broker answers for it or its
 * channel dies, and is never written again. One timer serves every deadline of the buffer.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Publisher } from '../../../src/client/publisher.js';
import type { WarrenError } from '../../../src/protocol/errors.js';
import { sleep, waitFor } from '../../helpers/wait.js';
import { FakeConfirmChannel, flush, message } from './publisher-fakes.js';

afterEach(() => {
  vi.restoreAllMocks();
});

interface Settled {
  state: 'pending' | 'resolved' | 'rejected';
  error?: WarrenError;
  at?: number;
  settlements: number;
}

function watch(p: Promise<void>): Settled {
  const s: Settled = { state: 'pending', settlements: 0 };
  p.then(
    () => {
      s.state = 'resolved';
      s.settlements++;
    },
    (err: WarrenError) => {
      s.state = 'rejected';
      s.error = err;
      s.at = performance.now();
      s.settlements++;
    },
  );
  return s;
}

describe('publish deadline (publishTimeoutMs is the whole call’s deadline)', () => {
  it('a publish while disconnected, with room in the buffer, rejects at the default deadline and leaves the buffer', async () => {
    const p = new Publisher({ publishTimeoutMs: 150 });
    const a = watch(p.publish(message('a')));
    expect(p.size).toBe(1);
    await waitFor(() => a.state !== 'pending', 'the deadline', 3000);
    expect(a.state).toBe('rejected');
    expect(a.error?.code).toBe('ERR_PUBLISH_TIMEOUT');
    expect(a.error?.message).toContain('150 ms');
    expect(p.size).toBe(0);
    expect(p.bytes).toBe(0);
    // Never sent: a channel attached afterwards gets nothing.
    const ch = new FakeConfirmChannel();
    p.attach(ch.asChannel());
    expect(ch.written).toHaveLength(0);
    p.close(new Error('done'));
  });

  it('a publish while the connection is blocked rejects at its own timeoutMs; nothing is written on unblock', async () => {
    const p = new Publisher();
    const ch = new FakeConfirmChannel();
    p.attach(ch.asChannel());
    p.pause();
    const a = watch(p.publish(message('a'), 100));
    await waitFor(() => a.state !== 'pending', 'the deadline', 3000);
    expect(a.error?.code).toBe('ERR_PUBLISH_TIMEOUT');
    expect(a.error?.message).toContain('blocked');
    p.resume();
    expect(ch.written).toHaveLength(0);
    expect(p.size).toBe(0);
    p.close(new Error('done'));
  });

  it('the room-wait is within the deadline: a full buffer rejects at the call’s timeoutMs', async () => {
    const p = new Publisher({ maxBufferedMessages: 1, publishTimeoutMs: 10_000 });
    const first = watch(p.publish(message('a')));
    const second = watch(p.publish(message('b'), 100));
    await waitFor(() => second.state !== 'pending', 'the deadline', 3000);
    expect(second.error?.code).toBe('ERR_PUBLISH_TIMEOUT');
    expect(first.state).toBe('pending');
    expect(p.size).toBe(1);
    p.close(new Error('done'));
    await flush();
    expect(first.state).toBe('rejected');
  });

  it('a written message that is not confirmed in time rejects, stays held until its confirm, and is not written again', async () => {
    const p = new Publisher();
    const ch = new FakeConfirmChannel();
    p.attach(ch.asChannel());
    const a = watch(p.publish(message('a'), 80));
    expect(ch.ids).toEqual(['a']);
    await waitFor(() => a.state !== 'pending', 'the deadline', 3000);
    expect(a.error?.code).toBe('ERR_PUBLISH_TIMEOUT');
    expect(a.error?.message).toContain('may still reach the queue');
    expect(p.size).toBe(1); // honest: the broker may still take it
    ch.ack('a');
    await flush();
    expect(p.size).toBe(0);
    expect(a.settlements).toBe(1);
    p.close(new Error('done'));
  });

  it('one timer serves every deadline: 2000 publishes with a channel attached start at most one timer', async () => {
    const p = new Publisher();
    const ch = new FakeConfirmChannel();
    p.attach(ch.asChannel());
    const spy = vi.spyOn(globalThis, 'setTimeout');
    const all = [];
    for (let i = 0; i < 2000; i++) all.push(p.publish(message(`m${i}`)));
    ch.ackAll();
    await Promise.all(all);
    expect(spy.mock.calls.length).toBeLessThanOrEqual(1);
    p.close(new Error('done'));
  });

  it('refuses a timeoutMs that is not a number of ms', async () => {
    const p = new Publisher();
    const err = await p.publish(message('a'), -5).catch((e: WarrenError) => e);
    expect((err as WarrenError).code).toBe('ERR_INVALID_ARGUMENT');
    expect(p.size).toBe(0);
  });
});

describe('publish abort', () => {
  it('aborting a queued publish rejects it with ERR_ABORTED (the reason as cause) and removes it; abort latency logged', async () => {
    const p = new Publisher();
    const ac = new AbortController();
    const reason = new Error('client went away');
    const a = watch(p.publish(message('a'), undefined, ac.signal));
    const b = watch(p.publish(message('b')));
    await sleep(20);
    const t0 = performance.now();
    ac.abort(reason);
    await flush();
    expect(a.state).toBe('rejected');
    console.log(`publish abort latency (queued): ${(a.at! - t0).toFixed(3)} ms`);
    expect(a.at! - t0).toBeLessThan(1000);
    expect(a.error?.code).toBe('ERR_ABORTED');
    expect(a.error?.cause).toBe(reason);
    expect(p.size).toBe(1);
    const ch = new FakeConfirmChannel();
    p.attach(ch.asChannel());
    expect(ch.ids).toEqual(['b']);
    ch.ackAll();
    await flush();
    expect(b.state).toBe('resolved');
    p.close(new Error('done'));
  });

  it('an already aborted signal rejects at once and holds nothing', async () => {
    const p = new Publisher();
    const a = watch(p.publish(message('a'), undefined, AbortSignal.abort('nope')));
    await flush();
    expect(a.error?.code).toBe('ERR_ABORTED');
    expect(a.error?.cause).toBe('nope');
    expect(p.size).toBe(0);
    p.close(new Error('done'));
  });

  it('aborting an in-flight publish rejects at once; a channel death then drops it instead of writing it again', async () => {
    const p = new Publisher();
    const ch = new FakeConfirmChannel();
    p.attach(ch.asChannel());
    const ac = new AbortController();
    const a = watch(p.publish(message('a'), undefined, ac.signal));
    const b = watch(p.publish(message('b')));
    ac.abort();
    await flush();
    expect(a.error?.code).toBe('ERR_ABORTED');
    expect(p.size).toBe(2);
    ch.close();
    const ch2 = new FakeConfirmChannel();
    p.attach(ch2.asChannel());
    expect(ch2.ids).toEqual(['b']);
    expect(p.size).toBe(1);
    ch2.ackAll();
    await flush();
    expect(b.state).toBe('resolved');
    expect(a.settlements).toBe(1);
    expect(p.size).toBe(0);
    p.close(new Error('done'));
  });

  it('an aborted in-flight publish that the broker nacks is not retried', async () => {
    const p = new Publisher();
    const ch = new FakeConfirmChannel();
    p.attach(ch.asChannel());
    const ac = new AbortController();
    const a = watch(p.publish(message('a'), undefined, ac.signal));
    ac.abort();
    ch.nack('a');
    await sleep(250); // past the first nack retry delay (100 ms)
    expect(ch.written).toHaveLength(1);
    expect(p.size).toBe(0);
    expect(a.settlements).toBe(1);
    p.close(new Error('done'));
  });

  it('aborting a publish waiting for room rejects it and lets the next waiter in', async () => {
    const p = new Publisher({ maxBufferedMessages: 1 });
    const ac = new AbortController();
    const first = watch(p.publish(message('a')));
    const second = watch(p.publish(message('b'), undefined, ac.signal));
    ac.abort();
    await flush();
    expect(second.error?.code).toBe('ERR_ABORTED');
    expect(p.size).toBe(1);
    p.close(new Error('done'));
    await flush();
    expect(first.state).toBe('rejected');
  });
});

describe('memory during a long outage', () => {
  it('publishes that time out or are aborted while queued leave nothing behind in the queue', async () => {
    const p = new Publisher({ maxBufferedMessages: 100_000 });
    const ac = new AbortController();
    const all: Promise<void>[] = [];
    for (let i = 0; i < 5000; i++) all.push(p.publish(message(`t${i}`), 30));
    for (let i = 0; i < 5000; i++) all.push(p.publish(message(`a${i}`), 60_000, ac.signal));
    ac.abort();
    const outcomes = await Promise.allSettled(all);
    expect(outcomes.filter((o) => o.status === 'rejected')).toHaveLength(10_000);
    expect(p.size).toBe(0);
    await waitFor(() => p.retainedQueued === 0, 'the queue to be compacted', 3000);
    p.close(new Error('done'));
  });
});
