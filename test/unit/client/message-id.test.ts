import { describe, expect, it } from 'vitest';
import { buildMessage } from '../../../src/client/message.js';
import { MessageIdSource, newMessageId } from '../../../src/client/publish/message-id.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The id's fields: Unix ms, the 12-bit counter, the 62 random bits (as hex). */
function fields(id: string) {
  const hex = id.replaceAll('-', '');
  return {
    ms: Number.parseInt(hex.slice(0, 12), 16),
    counter: Number.parseInt(hex.slice(13, 16), 16),
    rand: hex.slice(16),
  };
}

describe('message ids (UUIDv7)', () => {
  it('publishMessage gives each message a UUIDv7 of its publish time unless it has one', () => {
    const before = Date.now();
    const m = buildMessage('q', 'x');
    expect(m.properties.messageId).toMatch(V7);
    const { ms } = fields(m.properties.messageId!);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(Date.now());
    expect(buildMessage('q', 'x', { messageId: 'mine' }).properties.messageId).toBe('mine');
  });

  it('200 000 ids in a row: all distinct, all valid, strictly increasing', () => {
    const ids = Array.from({ length: 200_000 }, () => newMessageId());
    expect(new Set(ids).size).toBe(ids.length);
    for (let i = 1; i < ids.length; i++) {
      if (!(ids[i - 1]! < ids[i]!)) throw new Error(`not increasing at ${i}: ${ids[i - 1]} then ${ids[i]}`);
    }
    expect(ids.every((id) => V7.test(id))).toBe(true);
  });

  it('a millisecond that runs out of counter moves on to the next; a clock that steps back is not followed', () => {
    let now = 1_700_000_000_000;
    const source = new MessageIdSource(() => now);
    const ids = Array.from({ length: 5000 }, () => source.next()); // more than one counter's worth
    expect(new Set(ids).size).toBe(5000);
    for (let i = 1; i < ids.length; i++) expect(ids[i - 1]! < ids[i]!).toBe(true);
    const last = fields(ids.at(-1)!);
    expect(last.ms).toBeGreaterThan(now); // borrowed from the next millisecond
    now -= 60_000; // the clock is set back a minute
    const after = source.next();
    expect(after > ids.at(-1)!).toBe(true);
    expect(fields(after).ms).toBe(last.ms);
  });

  it('the counter starts below 2048 each millisecond and the random bits change with it', () => {
    let now = 1_700_000_000_000;
    const source = new MessageIdSource(() => now);
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      now++;
      const f = fields(source.next());
      expect(f.ms).toBe(now);
      expect(f.counter).toBeLessThan(2048);
      seen.add(f.rand);
    }
    expect(seen.size).toBe(200);
  });
});
