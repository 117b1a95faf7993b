/**
 * Confirmed publishing under broker faults: whatever happens to the connection, every publishMessage
 * promise settles, none is rejected, and every message is in the queue afterwards (duplicates allowed,
 * they keep their messageId; loss is not).
 *
 * Each test publishes 20 000 persistent messages with unique messageIds to a durable queue, at most 500
 * promises outstanding, while one fault hits mid-stream; then drains the queue and compares. A one-line
 * JSON summary per fault is printed: {"fault","published","lost","duplicates","ms"}.
 *
 * Target: WARREN_CHAOS_URL / WARREN_CHAOS_NODE (see test/helpers/chaos.ts and scripts/chaos-node.sh).
 * These tests stop the broker's app, close every connection and raise alarms: run them alone
 * (vitest.chaos.config.ts), never next to other tests on the same broker.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AsyncRabbitMQ, type AsyncRabbitMQOptions } from '../../src/client/async-rabbitmq.js';
import { redactUrl } from '../../src/client/settings.js';
import { WarrenError } from '../../src/protocol/errors.js';
import { uniqueName } from '../helpers/broker.js';
import {
  chaosAddress,
  chaosUrl,
  chaosUrlVia,
  ctl,
  deleteQueue,
  drainQueue,
  type FreezableProxy,
  publishWindowed,
  restoreBroker,
  sleep,
  startProxy,
  tally,
  type WindowedRun,
  waitUntil,
} from '../helpers/chaos.js';

const TOTAL = 20_000;
const WINDOW = 500;
/** The fault starts once this many messages were handed to publishMessage. */
const FAULT_AFTER = 1000;

interface Recorded {
  at: number;
  event: 'connected' | 'disconnected' | 'reconnecting' | 'blocked' | 'unblocked' | 'error';
  url?: string;
  error?: unknown;
}

/** Records the client's events with their time. */
function record(mq: AsyncRabbitMQ): Recorded[] {
  const events: Recorded[] = [];
  mq.on('connected', ({ url }) => events.push({ at: Date.now(), event: 'connected', url }));
  mq.on('disconnected', (error) => events.push({ at: Date.now(), event: 'disconnected', error }));
  mq.on('reconnecting', ({ error }) => events.push({ at: Date.now(), event: 'reconnecting', error }));
  mq.on('blocked', () => events.push({ at: Date.now(), event: 'blocked' }));
  mq.on('unblocked', () => events.push({ at: Date.now(), event: 'unblocked' }));
  mq.on('error', (error) => events.push({ at: Date.now(), event: 'error', error }));
  return events;
}

function count(events: Recorded[], event: Recorded['event'], since = 0): number {
  return events.filter((e) => e.event === event && e.at >= since).length;
}

/** Client options shared by the scenarios: short heartbeat, fast reconnect. */
const FAST: AsyncRabbitMQOptions = {
  heartbeat: 5,
  connectionTimeout: 3000,
  reconnect: { baseDelayMs: 50, maxDelayMs: 500 },
};

interface Scenario {
  mq: AsyncRabbitMQ;
  queue: string;
  events: Recorded[];
}

/**
 * Runs `body` with a connected client whose config declares a durable queue; afterwards (pass or fail)
 * puts the broker back, disconnects and deletes the queue.
 */
async function withClient(
  label: string,
  options: AsyncRabbitMQOptions,
  body: (s: Scenario) => Promise<void>,
  cleanup?: () => Promise<void>,
): Promise<void> {
  const queue = uniqueName(`chaos.${label}`);
  const mq = new AsyncRabbitMQ({ queues: [{ name: queue, durable: true }] }, { urls: chaosUrl, ...FAST, ...options });
  const events = record(mq);
  try {
    await mq.connect();
    await body({ mq, queue, events });
  } finally {
    try {
      await restoreBroker();
    } finally {
      await mq.disconnect().catch(() => {});
      await cleanup?.().catch(() => {});
      await deleteQueue(chaosUrl, queue).catch(() => {});
    }
  }
}

/** Waits for the run with a deadline that reports where it got stuck instead of hanging the suite. */
async function finish(run: WindowedRun, mq: AsyncRabbitMQ, ms = 90_000) {
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `publishing did not finish within ${ms} ms: ${run.settled}/${run.started} settled, state ${mq.state}, pendingPublishes ${mq.pendingPublishes}`,
          ),
        ),
      ms,
    );
  });
  try {
    return await Promise.race([run.done, stuck]);
  } finally {
    clearTimeout(timer);
  }
}

/** Drains the queue, prints the summary line, asserts nothing was lost or rejected. */
async function verify(fault: string, ids: string[], run: WindowedRun, mq: AsyncRabbitMQ, queue: string) {
  const res = await finish(run, mq);
  expect(res.errors, 'rejected publishes').toEqual([]);
  expect(res.rejected).toBe(0);
  expect(res.resolved).toBe(ids.length);
  expect(mq.pendingPublishes).toBe(0);
  const received = await drainQueue(chaosUrl, queue);
  const { lost, duplicates, unexpected } = tally(ids, received);
  console.log(JSON.stringify({ fault, published: res.resolved, lost: lost.length, duplicates, ms: res.ms }));
  expect(lost.slice(0, 20), `${lost.length} messages lost`).toEqual([]);
  expect(unexpected).toBe(0);
  return { received, duplicates };
}

function messageIds(label: string, n = TOTAL): string[] {
  const run = Math.random().toString(36).slice(2, 8);
  return Array.from({ length: n }, (_, i) => `${label}-${run}-${i}`);
}

describe('chaos: confirmed publishing survives broker faults', () => {
  beforeAll(async () => {
    // A previous run that died mid-fault must not poison this one.
    await restoreBroker();
  });
  afterAll(async () => {
    await restoreBroker();
  });

  it('close_all_connections 5 times, 400 ms apart, mid-stream', async () => {
    await withClient('close-all', {}, async ({ mq, queue, events }) => {
      const ids = messageIds('close');
      // Paced, and the last 2000 messages held back until the faults are over, so that all five hit
      // while messages are flowing however long rabbitmqctl takes (about 0.7 s per call).
      let faultsOver!: () => void;
      const gate = { at: TOTAL - 2000, open: new Promise<void>((r) => (faultsOver = r)) };
      const run = publishWindowed(mq, queue, ids, WINDOW, { maxPerSecond: 2500, gate });
      await run.reached(FAULT_AFTER);
      const t0 = Date.now();
      const closes: Array<{ closed: number; settled: number; disconnectedBefore: number }> = [];
      try {
        for (let k = 0; k < 5; k++) {
          const disconnectedBefore = count(events, 'disconnected', t0);
          const out = await ctl('close_all_connections', `warren chaos ${k + 1}/5`);
          closes.push({
            closed: Number(/Closed (\d+) connection/.exec(out)?.[1] ?? 0),
            settled: run.settled,
            disconnectedBefore,
          });
          if (k < 4) await sleep(400);
        }
      } finally {
        faultsOver();
      }
      await verify('close_all_connections x5', ids, run, mq, queue);
      const lost = events.filter((e) => e.event === 'disconnected' && e.at >= t0);
      console.log(
        JSON.stringify({
          fault: 'close_all_connections x5 (details)',
          closed: closes.map((c) => c.closed),
          settledAtEachClose: closes.map((c) => c.settled),
          disconnected: lost.length,
          reconnected: count(events, 'connected', t0),
        }),
      );
      // Each fault found the client connected again (it reconnects well within 400 ms) and mid-stream.
      for (const c of closes) {
        expect(c.closed).toBeGreaterThanOrEqual(1);
        expect(c.settled).toBeLessThan(TOTAL);
      }
      expect(lost.length).toBe(5);
      for (const e of lost) {
        expect(e.error).toBeInstanceOf(WarrenError);
        expect((e.error as WarrenError).replyCode).toBe(320);
      }
      expect(count(events, 'connected', t0)).toBe(5);
      expect(mq.state).toBe('ready');
    });
  });

  it('stop_app for 3 s, then start_app', async () => {
    await withClient('stop-app', {}, async ({ mq, queue, events }) => {
      const ids = messageIds('stop');
      const run = publishWindowed(mq, queue, ids, WINDOW);
      await run.reached(FAULT_AFTER);
      const t0 = Date.now();
      await ctl('stop_app');
      const settledAtStop = run.settled;
      expect(settledAtStop).toBeLessThan(TOTAL);
      await waitUntil(() => count(events, 'disconnected', t0) > 0, "'disconnected' after stop_app", 10_000);
      expect(mq.isReady).toBe(false);
      await sleep(3000);
      // Nothing can be confirmed while the app is down.
      expect(run.settled - settledAtStop).toBeLessThanOrEqual(WINDOW);
      await ctl('start_app');
      await ctl('await_startup', '--timeout', '60');
      await verify('stop_app 3s', ids, run, mq, queue);
      expect(count(events, 'reconnecting', t0)).toBeGreaterThan(0);
      expect(count(events, 'connected', t0)).toBeGreaterThanOrEqual(1);
      expect(mq.state).toBe('ready');
    });
  });

  it('memory alarm for 3 s: blocked, then unblocked, without reconnecting', async () => {
    await withClient('mem-alarm', {}, async ({ mq, queue, events }) => {
      const ids = messageIds('alarm');
      const run = publishWindowed(mq, queue, ids, WINDOW);
      await run.reached(FAULT_AFTER);
      const t0 = Date.now();
      await ctl('set_vm_memory_high_watermark', '0.000001');
      await waitUntil(() => count(events, 'blocked', t0) > 0, "'blocked'", 10_000);
      expect(run.settled).toBeLessThan(TOTAL);
      expect(mq.isReady).toBe(false);
      expect(mq.isConnected).toBe(true);
      await sleep(3000);
      await ctl('set_vm_memory_high_watermark', '0.4');
      await waitUntil(() => count(events, 'unblocked', t0) > 0, "'unblocked'", 10_000);
      await verify('memory alarm 3s', ids, run, mq, queue);
      const blocked = events.find((e) => e.event === 'blocked' && e.at >= t0)!;
      const unblocked = events.find((e) => e.event === 'unblocked' && e.at >= t0)!;
      expect(unblocked.at).toBeGreaterThanOrEqual(blocked.at + 2500);
      // A block is not a failure: the connection rides it out.
      expect(count(events, 'disconnected', t0)).toBe(0);
      expect(mq.isReady).toBe(true);
    });
  });

  it('silent partition: heartbeat detects it, the client reconnects to the second URL', async () => {
    const proxy: FreezableProxy = await startProxy(chaosAddress());
    const viaProxy = chaosUrlVia('127.0.0.1', proxy.port);
    await withClient(
      'partition',
      // Through the proxy first; the broker directly second. A frozen proxy swallows new connections,
      // so the connection timeout decides how soon the client moves on to the direct URL.
      { urls: [viaProxy, chaosUrl], heartbeat: 2, connectionTimeout: 2000 },
      async ({ mq, queue, events }) => {
        expect(events.filter((e) => e.event === 'connected').map((e) => e.url)).toEqual([redactUrl(viaProxy)]);
        const ids = messageIds('partition');
        const run = publishWindowed(mq, queue, ids, WINDOW);
        await run.reached(FAULT_AFTER);
        // Freeze just after a batch of publishes went through to the broker: it takes them, but its
        // confirms never arrive, so the client must publish them again (duplicates, not losses).
        await proxy.freezeAfterNextForward(4096);
        const frozenAt = Date.now();
        expect(proxy.frozen).toBe(true);
        expect(run.settled).toBeLessThan(TOTAL);
        await waitUntil(() => count(events, 'disconnected', frozenAt) > 0, "'disconnected' after the freeze", 15_000);
        const lost = events.find((e) => e.event === 'disconnected' && e.at >= frozenAt)!;
        const detectedMs = lost.at - frozenAt;
        expect((lost.error as WarrenError).code).toBe('ERR_HEARTBEAT_TIMEOUT');
        // The heartbeat rule is "nothing received for two intervals" (4 s at heartbeat 2 s), on a deadline
        // timer from the last byte received, which came at or before the freeze: detected within 4 s of it,
        // plus 150 ms for the timer and event loop.
        expect(detectedMs).toBeLessThanOrEqual(4150);
        await waitUntil(() => count(events, 'connected', frozenAt) > 0, "'connected' after the freeze", 20_000);
        const reconnected = events.find((e) => e.event === 'connected' && e.at >= frozenAt)!;
        expect(reconnected.url).toBe(redactUrl(chaosUrl));
        const { duplicates } = await verify('silent partition', ids, run, mq, queue);
        // The batch the broker took before the freeze was published again.
        expect(duplicates).toBeGreaterThan(0);
        console.log(
          JSON.stringify({
            fault: 'silent partition (timings)',
            detectedMs,
            reconnectedMs: reconnected.at - frozenAt,
            duplicates,
          }),
        );
      },
      () => proxy.close(),
    );
  });

  it('10 s outage with a producer that keeps publishing: bounded buffer, bounded memory, nothing lost', async () => {
    const MAX_MESSAGES = 2000;
    const MAX_BYTES = 2 * 1024 * 1024;
    const BODY = 1024;
    await withClient(
      'outage',
      { publish: { maxBufferedMessages: MAX_MESSAGES, maxBufferedBytes: MAX_BYTES, publishTimeoutMs: 60_000 } },
      async ({ mq, queue, events }) => {
        const prefix = `outage-${Math.random().toString(36).slice(2, 8)}`;
        const ids: string[] = [];
        const results = { resolved: 0, rejected: 0, errors: [] as unknown[] };
        const promises: Promise<void>[] = [];
        let maxPending = 0;
        const samplePending = () => {
          maxPending = Math.max(maxPending, mq.pendingPublishes);
        };
        // The producer: 5 messages every 10 ms (~500/s), fresh 1 KiB bodies, never awaiting a publish.
        let producing = true;
        const startedAt = Date.now();
        const producer = (async () => {
          while (producing) {
            for (let k = 0; k < 5; k++) {
              const id = `${prefix}-${ids.length}`;
              ids.push(id);
              const body = Buffer.alloc(BODY, ids.length % 251);
              promises.push(
                mq.publishMessage(queue, body, { messageId: id }).then(
                  () => {
                    results.resolved++;
                  },
                  (err: unknown) => {
                    results.rejected++;
                    if (results.errors.length < 20) results.errors.push(err);
                  },
                ),
              );
            }
            samplePending();
            await sleep(10);
          }
        })();
        await waitUntil(() => ids.length >= 1000, 'the producer to get going', 10_000);
        expect(results.resolved).toBeGreaterThan(0);

        const rss: number[] = [];
        const baseline = process.memoryUsage().rss;
        const sampler = setInterval(() => {
          rss.push(process.memoryUsage().rss);
          samplePending();
        }, 250);
        const t0 = Date.now();
        try {
          await ctl('stop_app');
          await waitUntil(() => count(events, 'disconnected', t0) > 0, "'disconnected' after stop_app", 10_000);
          await sleep(10_000);
          // The buffer filled up during the outage: the limit was actually exercised.
          expect(maxPending).toBe(MAX_MESSAGES);
          await ctl('start_app');
          await ctl('await_startup', '--timeout', '60');
        } finally {
          clearInterval(sampler);
        }
        const outageMs = Date.now() - t0;
        await waitUntil(() => count(events, 'connected', t0) > 0, "'connected' after start_app", 20_000);
        await sleep(1000);
        producing = false;
        await producer;
        const t1 = Date.now();
        await Promise.all(promises);
        const drainMs = Date.now() - t1;
        const ms = Date.now() - startedAt;
        samplePending();

        expect(results.errors, 'rejected publishes').toEqual([]);
        expect(results.rejected).toBe(0);
        expect(results.resolved).toBe(ids.length);
        expect(maxPending).toBeLessThanOrEqual(MAX_MESSAGES);
        expect(mq.pendingPublishes).toBe(0);

        // RSS bound: the buffer's bytes (2 MiB) plus 40 MiB. The allowance covers what is not in the buffer
        // but still alive because of the outage: the ~5 000 publishMessage calls waiting for room (each with
        // its own 1 KiB body, message, promise chain and timer: ~3 KiB, ≈ 15 MiB at this rate), the buffered
        // messages' properties and promises (~4 MiB), V8 heap growth between collections, reconnect
        // attempts. What a leak would look like: memory growing with time or attempts instead of levelling
        // off; an unbounded buffer is caught directly by the pendingPublishes assertion.
        const growth = Math.max(...rss) - baseline;
        const bound = MAX_BYTES + 40 * 1024 * 1024;
        const received = await drainQueue(chaosUrl, queue);
        const { lost, duplicates, unexpected } = tally(ids, received);
        const fault = 'stop_app 10s, continuous producer';
        console.log(JSON.stringify({ fault, published: results.resolved, lost: lost.length, duplicates, ms }));
        console.log(
          JSON.stringify({
            fault: `${fault} (details)`,
            outageMs,
            drainMs,
            maxPending,
            rssGrowthMiB: +(growth / 2 ** 20).toFixed(1),
            rssBoundMiB: +(bound / 2 ** 20).toFixed(1),
            samples: rss.length,
          }),
        );
        expect(rss.length).toBeGreaterThanOrEqual(40);
        expect(growth).toBeLessThan(bound);
        expect(lost.slice(0, 20), `${lost.length} messages lost`).toEqual([]);
        expect(unexpected).toBe(0);
      },
    );
  });
});
