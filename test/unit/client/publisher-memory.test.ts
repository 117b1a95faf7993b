/**
 * What the Publisher keeps of messages the broker already confirmed: nothing, wherever they sit behind a
 * message whose confirm is still outstanding (confirms of different queues arrive out of order).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { Publisher } from '../../../src/client/publisher.js';
import { FakeConfirmChannel, flush, message, track } from './publisher-fakes.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const BODY = 10 * 1024;
const LATER = 20_000;

describe('Publisher: memory of settled messages', () => {
  it('frees the bodies of 20 000 confirmed messages queued behind one unconfirmed message', async () => {
    const p = new Publisher({ maxBufferedMessages: 100_000, maxBufferedBytes: 1024 * 1024 * 1024 });
    const ch = new FakeConfirmChannel();
    p.attach(ch.asChannel());
    const stuck = track(p, message('stuck', { bytes: BODY }));
    const refs: WeakRef<Buffer>[] = [];
    const outcomes = [];
    for (let i = 0; i < LATER; i++) {
      const body = Buffer.alloc(BODY, i & 0xff);
      if (i % 100 === 0) refs.push(new WeakRef(body));
      outcomes.push(track(p, message(`m${i}`, { body })));
    }
    expect(ch.written).toHaveLength(LATER + 1);
    // The broker confirms every later message, one by one; the first stays unconfirmed.
    for (let i = 0; i < LATER; i++) ch.ack(i + 2);
    await flush();
    expect(outcomes.filter((o) => o.state === 'resolved')).toHaveLength(LATER);
    expect(stuck.state).toBe('pending');
    // The accounting holds only the unsettled message...
    expect(p.size).toBe(1);
    expect(p.bytes).toBe(BODY);
    // ...and so does memory: the confirmed bodies are garbage.
    await flush();
    gc();
    await flush();
    gc();
    const alive = refs.filter((r) => r.deref() !== undefined).length;
    expect(alive, `${alive} of ${refs.length} sampled confirmed bodies are still referenced`).toBe(0);
    expect(p.inFlight).toBe(1);
    ch.ack(1);
    await flush();
    expect(stuck.state).toBe('resolved');
    expect(p.size).toBe(0);
    expect(p.inFlight).toBe(0);
  });

  it('keeps the in-flight list proportional to what is unconfirmed, wherever the gaps are', async () => {
    const p = new Publisher({ maxBufferedMessages: 100_000 });
    const ch = new FakeConfirmChannel();
    p.attach(ch.asChannel());
    // Every 1000th message stays unconfirmed; the rest are confirmed out of order.
    const n = 20_000;
    for (let i = 0; i < n; i++) track(p, message(`m${i}`));
    for (let i = n; i >= 1; i--) if ((i - 1) % 1000 !== 0) ch.ack(i);
    await flush();
    expect(p.inFlight).toBe(20);
    expect(p.size).toBe(20);
    // Internal slots retained for in-flight messages: bounded by twice what is unsettled (plus slack).
    expect(p.retainedSlots).toBeLessThanOrEqual(2 * 20 + 1024);
  });

  it('a steady window (always some in flight, confirmed in order) keeps its list bounded: 200 000 messages, 50 at a time', async () => {
    const p = new Publisher({ maxBufferedMessages: 100_000 });
    const ch = new FakeConfirmChannel();
    p.attach(ch.asChannel());
    const window = 50;
    let confirmed = 0;
    let most = 0;
    for (let i = 0; i < 200_000; i++) {
      track(p, message(`m${i}`));
      // The oldest is confirmed once the window is full: in flight never drops to 0.
      if (i >= window) ch.ack(++confirmed);
      most = Math.max(most, p.retainedSlots);
    }
    await flush();
    expect(p.inFlight).toBe(window);
    expect(most, `the in-flight list held up to ${most} slots for ${window} in flight`).toBeLessThanOrEqual(
      2 * window + 1024,
    );
  });
});
