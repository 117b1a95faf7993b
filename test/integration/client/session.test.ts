/**
 * The client's session against the real broker: what a reconnect, a shutdown and a hostile message must
 * not break. Server-named queues across a reconnect, one shutdown deadline for stuck consumers, one RPC
 * to a missing exchange among others, a message whose headers cannot be published again.
 */
import { describe, expect, it } from 'vitest';
import { ChannelError } from '../../../src/protocol/errors.js';
import { FRAME_HEADER, RawTimestamp } from '../../../src/protocol/index.js';
import { rabbitmqctl, uniqueName } from '../../helpers/broker.js';
import { sleep, waitFor } from '../../helpers/wait.js';
import { bodyFrame, methodFrame, rawFrame } from '../../hostile/fake-broker.js';
import { consumeFixture } from './consume-fixture.js';

const { client, queueName, deleteAfter, adminConnection, queueInfo, drain } = consumeFixture();

/** Closes only the broker connection named `name` (never anyone else's). */
async function killConnection(name: string): Promise<void> {
  const out = await rabbitmqctl('list_connections', '--quiet', '--no-table-headers', 'pid', 'client_properties');
  const line = out.split('\n').find((l) => l.includes(`{"connection_name","${name}"}`));
  const pid = line?.split('\t')[0]?.trim();
  if (!pid) throw new Error(`connection ${name} not found`);
  await rabbitmqctl('close_connection', pid, 'warren test: killing this connection');
}

/** Every queue of the default vhost with its consumer count. */
async function listQueues(): Promise<Map<string, number>> {
  const out = await rabbitmqctl('list_queues', '--quiet', '--no-table-headers', 'name', 'consumers');
  const queues = new Map<string, number>();
  for (const line of out.split('\n')) {
    const [name, consumers] = line.trim().split(/\s+/);
    if (name) queues.set(name, Number(consumers));
  }
  return queues;
}

describe('server-named queues across a reconnect', () => {
  it('the consumer follows the queue to its new name; the old one is gone; nothing fails', async () => {
    const ex = uniqueName('sn.ex');
    deleteAfter({ exchanges: [ex] });
    const name = uniqueName('conn');
    const mq = await client(
      { exchanges: [{ name: ex, type: 'fanout' }], queues: [{ name: '', exchange: ex, routingKey: '' }] },
      { connectionName: name, reconnect: { baseDelayMs: 50, maxDelayMs: 200 } },
    );
    const errors: unknown[] = [];
    mq.on('error', (e) => errors.push(e));
    const first = mq.serverNamedQueues[0]!;
    deleteAfter({ queues: [first] });
    expect(first).toMatch(/^amq\.gen-/);
    const got: string[] = [];
    const consumer = await mq.consume(first, async (m) => {
      got.push(m.body.toString());
    });
    consumer.on('error', (e) => errors.push(e));
    await mq.publishMessage('', 'a', { exchange: ex });
    await waitFor(() => got.length === 1, 'the first message');

    await killConnection(name);
    await waitFor(
      () => mq.isReady && consumer.state === 'active' && mq.serverNamedQueues[0] !== first,
      'the reconnect',
    );
    const second = mq.serverNamedQueues[0]!;
    deleteAfter({ queues: [second] });
    expect(consumer.queue).toBe(second);
    await mq.publishMessage('', 'b', { exchange: ex });
    await waitFor(() => got.length === 2, 'the second message');
    expect(got).toEqual(['a', 'b']);
    // Exclusive and auto-delete by default: the first queue went with its connection, not left filling.
    // (Another connection may not even look at an exclusive queue: ask rabbitmqctl.)
    const queues = await listQueues();
    expect(queues.get(first)).toBeUndefined();
    expect(queues.get(second)).toBe(1);
    await sleep(300);
    expect(errors).toEqual([]);
  });
});

describe('disconnect() deadline', () => {
  it('5 consumers with stuck handlers: one deadline for all of them, not one each', async () => {
    const q = queueName('session.stuck');
    const mq = await client({ queues: [{ name: q }] }, { disconnectTimeoutMs: 1000 });
    const started: number[] = [];
    for (let i = 0; i < 5; i++) {
      await mq.consume(q, async () => {
        started.push(i);
        await new Promise(() => {}); // never settles
      });
    }
    await Promise.all(Array.from({ length: 5 }, (_, i) => mq.publishMessage(q, `m${i}`)));
    await waitFor(() => started.length === 5, 'every consumer busy');
    const t0 = Date.now();
    await mq.disconnect();
    const took = Date.now() - t0;
    // One second for the whole shutdown, plus the close handshake; five seconds would be one each.
    expect(took).toBeLessThan(2500);
    expect(mq.state).toBe('idle');
    await waitFor(async () => (await queueInfo(q)).messageCount === 5, 'the broker to take the 5 back');
  });
});

describe('rpc to a missing exchange', () => {
  it('fails only that call; concurrent calls on the same reply channel still get their replies', async () => {
    const q = queueName('session.rpc');
    const mq = await client({ queues: [{ name: q }] });
    await mq.rpcServer(q, async (req: { i: number }) => {
      await sleep(150);
      return { echo: req.i };
    });
    const missing = uniqueName('no-such-exchange');
    const good = Array.from({ length: 5 }, (_, i) => mq.rpc<{ echo: number }>(q, { i }, { timeoutMs: 8000 }));
    await sleep(20);
    const bad = mq.rpc(q, { i: -1 }, { exchange: missing, timeoutMs: 8000 });
    const outcomes = await Promise.allSettled([...good, bad]);
    const values = outcomes
      .slice(0, 5)
      .map((o) => (o.status === 'fulfilled' ? (o.value as { echo: number }).echo : o.reason));
    expect(values).toEqual([0, 1, 2, 3, 4]);
    const last = outcomes[5]!;
    expect(last.status).toBe('rejected');
    const err = (last as PromiseRejectedResult).reason as ChannelError;
    expect(err).toBeInstanceOf(ChannelError);
    expect(err.replyCode).toBe(404);
  });
});

/** A content header frame with a headers table `{ [key]: timestamp(seconds) }`, a message id and a timestamp property. */
function hostileHeader(channel: number, bodySize: number, key: string, messageId: string): Buffer {
  const keyBytes = Buffer.from(key);
  const table = Buffer.alloc(1 + keyBytes.length + 1 + 8 + 1 + 3 + 1 + 4 + 5);
  let at = 0;
  table[at++] = keyBytes.length;
  keyBytes.copy(table, at);
  at += keyBytes.length;
  table[at++] = 0x54; // 'T': a timestamp far beyond what a JavaScript Date can hold
  table.writeBigUInt64BE(0x000fffffffffffffn, at);
  at += 8;
  table[at++] = 3;
  table.write('ok!', at);
  at += 3;
  table[at++] = 0x53; // 'S'
  table.writeUInt32BE(5, at);
  at += 4;
  table.write('fine!', at);
  at += 5;
  const id = Buffer.from(messageId);
  const p = Buffer.alloc(14 + 4 + at + 1 + id.length + 8);
  p.writeUInt16BE(60, 0);
  p.writeUInt16BE(0, 2);
  p.writeUInt32BE(0, 4);
  p.writeUInt32BE(bodySize, 8);
  p.writeUInt16BE(0x2000 | 0x0080 | 0x0040, 12); // headers, message-id, timestamp
  p.writeUInt32BE(at, 14);
  table.copy(p, 18, 0, at);
  let o = 18 + at;
  p[o++] = id.length;
  id.copy(p, o);
  o += id.length;
  p.writeBigUInt64BE(0x000fffffffffffffn, o); // the timestamp property, as invalid
  return rawFrame(FRAME_HEADER, channel, p);
}

describe('a message with values beyond what a Date holds, from another client', () => {
  it('is retried and reaches the dead-letter queue exactly once, its values intact (no requeue loop)', async () => {
    const q = queueName('session.hostile', [50]);
    const mq = await client({ queues: [{ name: q }] });
    const errors: unknown[] = [];
    mq.on('error', (e) => errors.push(e));
    let calls = 0;
    const consumer = await mq.consume(
      q,
      async () => {
        calls++;
        throw new Error('always fails');
      },
      { retry: { attempts: 2, delayMs: 50 } },
    );
    consumer.on('error', (e) => errors.push(e));
    // Published by "another client": bytes written by hand, with a header warren cannot write back.
    const conn = await adminConnection();
    const ch = await conn.createChannel();
    const body = Buffer.from('payload');
    conn.output.writeChunks([
      methodFrame(ch.id, 'basic.publish', { exchange: '', routingKey: q, mandatory: false, immediate: false }),
      hostileHeader(ch.id, body.length, 'x-bad-ts', 'hostile-1'),
      bodyFrame(ch.id, body),
    ]);
    await ch.close();
    const dead = `${q}.dead`;
    await waitFor(async () => (await queueInfo(dead)).messageCount >= 1, 'the dead letter', 10_000);
    await sleep(1500); // a requeue loop would show by now
    expect(calls).toBe(2);
    const letters = await drain(dead);
    expect(letters.length).toBe(1);
    const h = letters[0]!.properties.headers ?? {};
    // The engine reads a timestamp beyond what a Date holds as a RawTimestamp and writes it back
    // byte-exact, so the copy keeps it (and the timestamp property) instead of dropping them.
    expect(h['x-bad-ts']).toBeInstanceOf(RawTimestamp);
    expect((h['x-bad-ts'] as RawTimestamp).seconds).toBe(0x000fffffffffffffn);
    expect((letters[0]!.properties.timestamp as RawTimestamp).seconds).toBe(0x000fffffffffffffn);
    expect(h['ok!']).toBe('fine!');
    expect(h['x-warren-removed']).toBeUndefined();
    expect(letters[0]!.properties.messageId).toBe('hostile-1');
    expect((await queueInfo(q)).messageCount).toBe(0);
  });
});
