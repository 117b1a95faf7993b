/**
 * Consumers under connection kills: 20 000 messages are consumed by handlers taking a random 0–2 ms while
 * every connection to the broker is closed 5 times (`rabbitmqctl close_all_connections`). Every id must be
 * handled at least once (0 lost); duplicates (redeliveries of messages whose ack died with a connection)
 * are allowed and reported in a one-line JSON summary: {"test","messages","kills","handled","unique","lost","duplicates","ms"}.
 *
 * DESTRUCTIVE: it closes every connection of the target broker. Target: WARREN_CHAOS_URL (default
 * amqp://guest:guest@127.0.0.1:5672/%2F) and WARREN_CHAOS_NODE (default rabbit@localhost, for
 * `rabbitmqctl -n`). Develop against a throwaway node (scripts/chaos-node.sh), never next to other tests.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { AsyncRabbitMQ } from '../../src/client/async-rabbitmq.js';
import { consume, deadLetterName } from '../../src/client/consumer.js';
import { connect } from '../../src/connection/connect.js';
import { uniqueName } from '../helpers/broker.js';

const run = promisify(execFile);
const url = process.env.WARREN_CHAOS_URL ?? 'amqp://guest:guest@127.0.0.1:5672/%2F';
const node = process.env.WARREN_CHAOS_NODE ?? 'rabbit@localhost';

const TOTAL = 20_000;
const KILLS = 5;
/** Unique ids handled before each kill. */
const KILL_AT = [1500, 4500, 7500, 10_500, 13_500];

async function ctl(...args: string[]): Promise<string> {
  const { stdout } = await run('rabbitmqctl', ['-n', node, ...args], { timeout: 60_000 });
  return stdout;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitUntil(check: () => boolean | Promise<boolean>, what: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Runs `fn` on a short-lived connection of its own (the kills close every connection). */
async function withChannel<T>(
  fn: (ch: Awaited<ReturnType<Awaited<ReturnType<typeof connect>>['createChannel']>>) => Promise<T>,
): Promise<T> {
  const conn = await connect(url);
  try {
    return await fn(await conn.createChannel());
  } finally {
    await conn.close();
  }
}

describe('chaos: consume', () => {
  it(`consumes ${TOTAL} messages while every connection is killed ${KILLS} times: 0 lost`, async () => {
    const queue = uniqueName('chaos.consume');
    const options = {
      urls: url,
      heartbeat: 5,
      connectionTimeout: 3000,
      reconnect: { baseDelayMs: 50, maxDelayMs: 500 },
    };
    const publisher = new AsyncRabbitMQ({ queues: [{ name: queue }] }, options);
    const mq = new AsyncRabbitMQ({ queues: [{ name: queue }] }, options);
    const counts = new Map<number, number>();
    let handled = 0;
    let kills = 0;
    const t0 = Date.now();
    try {
      await publisher.connect();
      for (let from = 0; from < TOTAL; from += 1000) {
        await Promise.all(Array.from({ length: 1000 }, (_, i) => publisher.publishMessage(queue, { id: from + i })));
      }
      await publisher.disconnect();

      await mq.connect();
      const consumer = await consume<{ id: number }>(
        mq,
        queue,
        async (msg) => {
          await sleep(Math.random() * 2);
          handled++;
          counts.set(msg.value.id, (counts.get(msg.value.id) ?? 0) + 1);
        },
        { json: true, prefetch: 20, concurrency: 4 },
      );
      const consumerErrors: unknown[] = [];
      consumer.on('error', (e) => consumerErrors.push(e));
      mq.on('error', () => {});

      for (const at of KILL_AT) {
        await waitUntil(() => counts.size >= at, `${at} ids handled`, 60_000);
        expect(counts.size, 'the kill must land while messages are still being consumed').toBeLessThan(TOTAL);
        await ctl('close_all_connections', 'warren chaos: consume');
        kills++;
        await waitUntil(() => mq.isReady && consumer.state === 'active', 'the consumer to be back', 30_000);
      }
      await waitUntil(() => counts.size === TOTAL, `all ${TOTAL} ids handled`, 120_000);
      await waitUntil(
        async () => (await withChannel((ch) => ch.queueDeclare({ queue, passive: true }))).messageCount === 0,
        'the queue to be empty',
        30_000,
      );
      await consumer.stop({ timeoutMs: 10_000 });
      const unique = counts.size;
      const summary = {
        test: 'chaos-consume',
        messages: TOTAL,
        kills,
        handled,
        unique,
        lost: TOTAL - unique,
        duplicates: handled - unique,
        ms: Date.now() - t0,
      };
      console.log(JSON.stringify(summary));
      expect(summary.lost).toBe(0);
      expect(kills).toBe(KILLS);
      for (let id = 0; id < TOTAL; id++) expect(counts.get(id) ?? 0).toBeGreaterThanOrEqual(1);
      // Nothing failed: errors would be HandlerErrors, and there are none.
      expect(consumerErrors).toEqual([]);
      const after = await withChannel((ch) => ch.queueDeclare({ queue, passive: true }));
      expect(after).toMatchObject({ messageCount: 0, consumerCount: 0 });
    } finally {
      await publisher.disconnect().catch(() => {});
      await mq.disconnect().catch(() => {});
      await withChannel(async (ch) => {
        await ch.queueDelete({ queue });
        await ch.queueDelete({ queue: deadLetterName(queue) });
        await ch.exchangeDelete({ exchange: deadLetterName(queue) });
      }).catch(() => {});
    }
  });
});
