/**
 * One poison publish among many in flight closes the channel. The publisher charges that message alone:
 * by what the close names when it names something, otherwise by sending the suspects again one at a time
 * until the one that closes the channel shows itself. The others are written again and resolve.
 */
import { describe, expect, it } from 'vitest';
import { MessageTooLargeError } from '../../../src/client/errors.js';
import { Publisher } from '../../../src/client/publisher.js';
import { ChannelError, ConnectionError, WarrenError } from '../../../src/protocol/errors.js';
import { deserializeError, serializeError } from '../../../src/sync/messages.js';
import {
  brokerClose,
  FakeConfirmChannel,
  flush,
  message,
  type Outcome,
  ownedPublisher,
  track,
} from './publisher-fakes.js';

/**
 * 100 innocents, the poison, 100 innocents; all written together on one channel. The broker had taken a
 * publish to the poison's exchange and with its user_id before (else the poison would go alone).
 */
function poisoned(poison: Parameters<typeof message>[1], options = {}) {
  const o = ownedPublisher(options);
  const warm = message('warm-up', poison);
  track(o.p, { ...warm, body: Buffer.alloc(1) });
  o.current().ackAll();
  o.current().close(new ConnectionError('warm-up done'));
  const innocents: Outcome[] = [];
  for (let i = 0; i < 100; i++) innocents.push(track(o.p, message(`i${i}`)));
  const bad = track(o.p, message('poison', poison));
  for (let i = 100; i < 200; i++) innocents.push(track(o.p, message(`i${i}`)));
  expect(o.current().written).toHaveLength(201);
  return { ...o, innocents, bad };
}

/** Acks everything each new channel is given, until nothing is left; returns the channels used. */
async function confirmEverything(o: ReturnType<typeof ownedPublisher>): Promise<void> {
  for (let rounds = 0; rounds < 1000 && o.p.size > 0; rounds++) {
    o.current().ackAll();
    await flush();
  }
}

function expectSettledOnce(innocents: Outcome[], bad: Outcome, err: Error): void {
  expect(bad.state).toBe('rejected');
  expect(bad.error).toBe(err);
  expect(innocents.filter((t) => t.state !== 'resolved')).toEqual([]);
  expect([...innocents, bad].every((t) => t.settlements === 1)).toBe(true);
}

describe('Publisher: the message that closed the channel', () => {
  it('a wrong user_id (406 names the user_id): that message alone rejects; the others are written again at once', async () => {
    const o = poisoned({ properties: { messageId: 'poison', userId: 'bob' } });
    const first = o.current();
    for (let tag = 1; tag <= 10; tag++) first.ack(tag); // some confirms made it before the close
    const err = brokerClose(
      406,
      "PRECONDITION_FAILED - user_id property set to 'bob' but authenticated user was 'guest'",
    );
    first.close(err);
    await flush();
    expect(o.bad.state).toBe('rejected');
    // Everything not confirmed is written again, in order, pipelined; the poison is not among them.
    expect(o.current().ids).toEqual([
      ...Array.from({ length: 90 }, (_, i) => `i${i + 10}`),
      ...Array.from({ length: 100 }, (_, i) => `i${i + 100}`),
    ]);
    await confirmEverything(o);
    expectSettledOnce(o.innocents, o.bad, err);
    expect(o.channels).toHaveLength(3);
  });

  it('a missing exchange (404 names it), a refused one (403 names it), a message over the broker limit (406 names the size)', async () => {
    const cases = [
      {
        poison: { exchange: 'nope' },
        err: brokerClose(404, "NOT_FOUND - no exchange 'nope' in vhost '/'"),
      },
      {
        poison: { exchange: 'amq.rabbitmq.trace' },
        err: brokerClose(403, "ACCESS_REFUSED - cannot publish to internal exchange 'amq.rabbitmq.trace' in vhost '/'"),
      },
      {
        poison: { exchange: 'x' },
        err: brokerClose(403, "ACCESS_REFUSED - access to exchange 'x' in vhost '/' refused for user 'guest'"),
      },
      {
        poison: { exchange: 'topics', routingKey: 'secret' },
        err: brokerClose(
          403,
          "ACCESS_REFUSED - access to topic 'secret' in exchange 'topics' in vhost '/' refused for user 'guest'",
        ),
      },
      {
        poison: { bytes: 3000 },
        err: brokerClose(406, 'PRECONDITION_FAILED - message size 3000 is larger than configured max size 2048'),
      },
    ];
    for (const c of cases) {
      const o = poisoned(c.poison);
      o.current().close(c.err);
      await flush();
      expect(o.current().written, c.err.message).toHaveLength(200);
      await confirmEverything(o);
      expectSettledOnce(o.innocents, o.bad, c.err);
    }
  });

  it('a close that names nothing: suspects go one at a time (each waits for its confirm) until the poison closes the channel alone', async () => {
    const o = poisoned({ properties: { messageId: 'poison', headers: { CC: 'x' } } });
    const err1 = brokerClose(406, 'PRECONDITION_FAILED - invalid message: {unacceptable_type_in_header,"CC",longstr}');
    o.current().close(err1);
    await flush();
    expect(o.bad.state).toBe('pending'); // not proven yet
    expect(o.innocents.filter((t) => t.state === 'rejected')).toEqual([]);
    for (let i = 0; i < 100; i++) {
      const ch = o.current();
      expect(ch.ids).toEqual([`i${i}`]); // alone on the channel
      expect(ch.unconfirmed).toBe(1);
      ch.ack(`i${i}`);
      await flush();
      expect(o.current().ids).toEqual(i < 99 ? [`i${i}`, `i${i + 1}`] : ['i99', 'poison']);
      o.current().written.splice(0, 1);
    }
    const err2 = brokerClose(406, 'PRECONDITION_FAILED - invalid message: {unacceptable_type_in_header,"CC",longstr}');
    o.current().close(err2);
    await flush();
    expect(o.bad.state).toBe('rejected');
    expect(o.bad.error).toBe(err2);
    // The poison found, what is left goes out pipelined again.
    expect(o.current().written).toHaveLength(100);
    await confirmEverything(o);
    expectSettledOnce(o.innocents, o.bad, err2);
  });

  it('what the broker confirmed or returned before the close was processed: only later messages are suspects', async () => {
    const o = ownedPublisher();
    const ts = Array.from({ length: 10 }, (_, i) => track(o.p, message(`m${i}`)));
    const first = o.current();
    first.ack('m6'); // out of order (another queue): m0..m5 were processed too
    first.close(brokerClose(406, 'PRECONDITION_FAILED - something new'));
    await flush();
    // m0..m5 go out pipelined; m7 (the first suspect) waits until they are confirmed, then goes alone.
    expect(o.current().ids).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
    o.current().ackAll();
    await flush();
    expect(o.current().ids.slice(6)).toEqual(['m7']);
    const err = brokerClose(406, 'PRECONDITION_FAILED - something new');
    o.current().close(err);
    await flush();
    expect(ts[7]!.error).toBe(err);
    await confirmEverything(o);
    expect(ts.map((t) => t.state)).toEqual([...Array(7).fill('resolved'), 'rejected', 'resolved', 'resolved']);
  });

  it('a lone unconfirmed message when the channel closes is sent alone again, and rejected when it closes that one too', async () => {
    const o = ownedPublisher();
    const a = track(o.p, message('a'));
    const b = track(o.p, message('b'));
    o.current().ack('a');
    o.current().close(brokerClose(406, 'PRECONDITION_FAILED - something new'));
    await flush();
    expect(a.state).toBe('resolved');
    expect(b.state).toBe('pending');
    const c = track(o.p, message('c'));
    expect(o.current().ids).toEqual(['b']); // 'c' waits behind the suspect
    const err = brokerClose(406, 'PRECONDITION_FAILED - something new');
    o.current().close(err);
    await flush();
    expect(b.error).toBe(err);
    expect(o.current().ids).toEqual(['c']);
    await confirmEverything(o);
    expect(c.state).toBe('resolved');
    expect(o.p.size).toBe(0);
  });

  it('a lost connection is nobody fault, also while a suspect is out alone; a close not caused by basic.publish charges nobody', async () => {
    const o = ownedPublisher();
    const ts = Array.from({ length: 3 }, (_, i) => track(o.p, message(`m${i}`)));
    o.current().close(brokerClose(406, 'PRECONDITION_FAILED - something new'));
    await flush();
    expect(o.current().ids).toEqual(['m0']);
    for (let i = 0; i < 4; i++) {
      o.current().close(new ConnectionError('connection lost'));
      await flush();
    }
    expect(o.current().ids).toEqual(['m0']);
    o.current().close(
      new ChannelError('channel closed by the broker: 504 CHANNEL_ERROR', {
        replyCode: 504,
        classId: 20,
        methodId: 10,
      }),
    );
    await flush();
    expect(o.current().ids).toEqual(['m0']);
    expect(ts.map((t) => t.state)).toEqual(['pending', 'pending', 'pending']);
    await confirmEverything(o);
    expect(ts.map((t) => t.state)).toEqual(['resolved', 'resolved', 'resolved']);
  });
});

describe('Publisher: publishes the broker may refuse go alone', () => {
  it('the first publish to an exchange waits for what is in flight, goes alone, and later ones wait for its confirm', async () => {
    const o = ownedPublisher();
    const before = track(o.p, message('before'));
    const first = track(o.p, message('first', { exchange: 'orders' }));
    const after = track(o.p, message('after'));
    const second = track(o.p, message('second', { exchange: 'orders' }));
    expect(o.current().ids).toEqual(['before']);
    o.current().ack('before');
    expect(o.current().ids).toEqual(['before', 'first']);
    o.current().ack('first');
    // Proven: from now on publishes to 'orders' are pipelined like any other.
    expect(o.current().ids).toEqual(['before', 'first', 'after', 'second']);
    const third = track(o.p, message('third', { exchange: 'orders' }));
    expect(o.current().ids.at(-1)).toBe('third');
    o.current().ackAll();
    await flush();
    expect([before, first, after, second, third].map((t) => t.state)).toEqual(Array(5).fill('resolved'));
  });

  it('nothing is written beside a message out alone, also when it went out at once', async () => {
    const o = ownedPublisher();
    const first = track(o.p, message('first', { exchange: 'orders' }));
    expect(o.current().ids).toEqual(['first']);
    const next = track(o.p, message('next'));
    expect(o.current().ids).toEqual(['first']);
    o.current().ack('first');
    expect(o.current().ids).toEqual(['first', 'next']);
    o.current().ackAll();
    await flush();
    expect([first.state, next.state]).toEqual(['resolved', 'resolved']);
  });

  it('so a publish to a missing exchange, or with a wrong user_id, takes nothing down with it: nothing is written twice', async () => {
    for (const [poison, err] of [
      [{ exchange: 'nope' }, brokerClose(404, "NOT_FOUND - no exchange 'nope' in vhost '/'")],
      [
        { properties: { messageId: 'poison', userId: 'bob' } },
        brokerClose(406, "PRECONDITION_FAILED - user_id property set to 'bob' but authenticated user was 'guest'"),
      ],
    ] as const) {
      const o = ownedPublisher();
      const innocents: Outcome[] = [];
      for (let i = 0; i < 100; i++) innocents.push(track(o.p, message(`i${i}`)));
      const bad = track(o.p, message('poison', poison));
      for (let i = 100; i < 200; i++) innocents.push(track(o.p, message(`i${i}`)));
      expect(o.current().written).toHaveLength(100);
      o.current().ackAll();
      expect(o.current().ids.at(-1)).toBe('poison');
      expect(o.current().unconfirmed).toBe(1);
      o.current().close(err);
      await flush();
      expect(bad.error).toBe(err);
      await confirmEverything(o);
      expectSettledOnce(innocents, bad, err);
      const writes = o.channels.flatMap((ch) => ch.ids);
      expect(writes).toHaveLength(201);
      expect(new Set(writes).size).toBe(201);
    }
  });

  it('a user_id goes alone until the broker took one publish with it', async () => {
    const o = ownedPublisher();
    const props = (id: string) => ({ properties: { messageId: id, userId: 'app' } });
    const ts = [track(o.p, message('a', props('a'))), track(o.p, message('b', props('b'))), track(o.p, message('c'))];
    expect(o.current().ids).toEqual(['a']);
    o.current().ack('a');
    expect(o.current().ids).toEqual(['a', 'b', 'c']);
    o.current().ackAll();
    await flush();
    expect(ts.map((t) => t.state)).toEqual(['resolved', 'resolved', 'resolved']);
  });
});

describe('Publisher: maxMessageBytes', () => {
  it('rejects a message over the limit (default 16 MiB, RabbitMQ 4) at once, naming size and limit; nothing is written', async () => {
    const p = new Publisher();
    const ch = new FakeConfirmChannel();
    p.attach(ch.asChannel());
    const size = 17 * 1024 * 1024;
    const big = track(p, message('big', { body: Buffer.alloc(size) }));
    expect(p.size).toBe(0);
    expect(ch.written).toHaveLength(0);
    await flush();
    expect(big.error).toBeInstanceOf(MessageTooLargeError);
    const err = big.error as MessageTooLargeError;
    expect(err.code).toBe('ERR_MESSAGE_TOO_LARGE');
    expect(err.size).toBe(size);
    expect(err.limit).toBe(16 * 1024 * 1024);
    expect(err.message).toContain(String(size));
    expect(err.message).toContain(String(16 * 1024 * 1024));
    const atLimit = track(p, message('ok', { body: Buffer.alloc(16 * 1024 * 1024) }));
    expect(ch.ids).toEqual(['ok']);
    ch.ackAll();
    await flush();
    expect(atLimit.state).toBe('resolved');
  });

  it('is configurable', async () => {
    const p = new Publisher({ maxMessageBytes: 100 });
    const ch = new FakeConfirmChannel();
    p.attach(ch.asChannel());
    const over = track(p, message('over', { bytes: 101 }));
    const at = track(p, message('at', { bytes: 100 }));
    ch.ackAll();
    await flush();
    expect((over.error as MessageTooLargeError).limit).toBe(100);
    expect(at.state).toBe('resolved');
    expect(ch.ids).toEqual(['at']);
  });

  it('keeps its code across the SyncRabbitMQ worker boundary', () => {
    const back = deserializeError(serializeError(new MessageTooLargeError(20, 10)));
    expect(back).toBeInstanceOf(WarrenError);
    expect((back as WarrenError).code).toBe('ERR_MESSAGE_TOO_LARGE');
    expect(back.name).toBe('MessageTooLargeError');
    expect(back.message).toContain('20 bytes');
  });
});
