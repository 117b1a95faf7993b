/**
 * Helpers of the chaos tests (test/chaos/): the broker under attack, rabbitmqctl against it, putting it
 * back, a TCP proxy that can go silent, a queue drainer and a windowed publisher.
 *
 * The target comes from the environment so the suite can be developed against a throwaway node
 * (scripts/chaos-node.sh) while other test runs use the main broker:
 * - `WARREN_CHAOS_URL` (default `amqp://guest:guest@127.0.0.1:5672/%2F`)
 * - `WARREN_CHAOS_NODE` (default `rabbit@localhost`), passed as `rabbitmqctl -n <node>`.
 */
import { execFile } from 'node:child_process';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { promisify } from 'node:util';
import type { AsyncRabbitMQ } from '../../src/client/async-rabbitmq.js';
import type { PublishMessageOptions } from '../../src/client/message.js';
import { connect } from '../../src/connection/connect.js';
import { sleep, waitFor } from './wait.js';

const run = promisify(execFile);

/** The broker the chaos tests attack. */
export const chaosUrl: string = process.env.WARREN_CHAOS_URL ?? 'amqp://guest:guest@127.0.0.1:5672/%2F';
/** Its node name, for rabbitmqctl -n. */
export const chaosNode: string = process.env.WARREN_CHAOS_NODE ?? 'rabbit@localhost';

/** Host and port of {@link chaosUrl}. */
export function chaosAddress(): { host: string; port: number } {
  const u = new URL(chaosUrl);
  return { host: u.hostname, port: Number(u.port || 5672) };
}

/** `chaosUrl` with host and port replaced (same credentials and vhost). */
export function chaosUrlVia(host: string, port: number): string {
  const u = new URL(chaosUrl);
  u.hostname = host;
  u.port = String(port);
  return u.toString();
}

/** Runs `rabbitmqctl -n <chaos node> ...args` (60 s timeout); returns stdout. */
export async function ctl(...args: string[]): Promise<string> {
  const { stdout } = await run('rabbitmqctl', ['-n', chaosNode, ...args], { timeout: 60_000 });
  return stdout;
}

/**
 * Puts the broker back the way the other tests expect it: app running, no memory or disk alarm.
 * Each step is attempted even when an earlier one failed (they fail harmlessly when already fine).
 */
export async function restoreBroker(): Promise<void> {
  const errors: unknown[] = [];
  for (const args of [
    ['start_app'],
    ['await_startup', '--timeout', '60'],
    ['set_vm_memory_high_watermark', '0.4'],
    ['set_disk_free_limit', '50MB'],
  ]) {
    try {
      await ctl('-q', ...args);
    } catch (err) {
      errors.push(err);
    }
  }
  // The app must answer again; anything else is a real failure worth reporting.
  await ctl('-q', 'await_startup', '--timeout', '60');
  const alarms = await ctl('-q', 'eval', 'rabbit_alarm:get_alarms().');
  if (alarms.trim() !== '[]')
    throw new Error(`broker still has alarms after restore: ${alarms.trim()}`, { cause: errors });
}

export interface FreezableProxy {
  /** The local port it listens on. */
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Whether {@link freeze} was called. */
  readonly frozen: boolean;
  /**
   * Stops forwarding in both directions without closing anything: bytes already on their way stay in
   * the kernel buffers, nothing more is read or written, closes from either side are not passed on, and
   * new connections are accepted and then ignored. To both ends it looks like a network that went silent.
   */
  freeze(): void;
  /**
   * Freezes right after the next chunk of at least `minBytes` was forwarded from a client to the broker:
   * the broker gets those bytes (publishes, say) but its answers (their confirms) never come back.
   * Resolves once frozen.
   */
  freezeAfterNextForward(minBytes?: number): Promise<void>;
  /** Destroys every socket and stops listening. */
  close(): Promise<void>;
}

/** A TCP proxy on 127.0.0.1 (random port) forwarding to `target`, which can be frozen (a silent partition). */
export async function startProxy(target: { host: string; port: number }): Promise<FreezableProxy> {
  const sockets = new Set<Socket>();
  let frozen = false;
  let accepted = 0;
  let armed: { minBytes: number; resolve(): void } | undefined;
  const freeze = () => {
    frozen = true;
    // Stop reading: what the peers send piles up in kernel buffers, then backs up into their writes.
    for (const s of sockets) s.pause();
  };
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  };
  const server: Server = createServer((client) => {
    accepted++;
    track(client);
    if (frozen) {
      // A black hole: the handshake never gets an answer.
      client.pause();
      return;
    }
    const upstream = netConnect(target);
    track(upstream);
    const forward = (from: Socket, to: Socket, upstream: boolean) => {
      from.on('data', (chunk: Buffer) => {
        if (frozen) return;
        const written = to.write(chunk);
        if (upstream && armed && chunk.length >= armed.minBytes) {
          const a = armed;
          armed = undefined;
          freeze();
          a.resolve();
          return;
        }
        if (!written) {
          from.pause();
          to.once('drain', () => {
            if (!frozen) from.resume();
          });
        }
      });
      from.on('end', () => {
        if (!frozen) to.end();
      });
      from.on('close', () => {
        if (!frozen) to.destroy();
      });
    };
    forward(client, upstream, true);
    forward(upstream, client, false);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  return {
    port: address.port,
    get accepted() {
      return accepted;
    },
    get frozen() {
      return frozen;
    },
    freeze,
    freezeAfterNextForward(minBytes = 1024) {
      return new Promise<void>((resolve) => {
        armed = { minBytes, resolve };
      });
    },
    close() {
      return new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      });
    },
  };
}

/**
 * Consumes everything in `queue` over a fresh engine connection and returns the messageIds in delivery
 * order (duplicates included). Meant for after publishing finished: it reads the queue's message count
 * first and stops once that many arrived.
 */
export async function drainQueue(url: string, queue: string, timeoutMs = 60_000): Promise<string[]> {
  const conn = await connect(url);
  try {
    const ch = await conn.createChannel();
    const { messageCount } = await ch.queueDeclare({ queue, passive: true });
    const ids: string[] = [];
    if (messageCount === 0) return ids;
    await ch.basicQos({ prefetchCount: 1000 });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`drainQueue(${queue}): ${ids.length} of ${messageCount} messages after ${timeoutMs} ms`)),
        timeoutMs,
      );
      ch.on('close', (err) => {
        clearTimeout(timer);
        reject(err ?? new Error('drain channel closed'));
      });
      ch.basicConsume({ queue }, (d) => {
        ids.push(String(d.properties.messageId));
        ch.basicAck(d.deliveryTag);
        if (ids.length === messageCount) {
          clearTimeout(timer);
          resolve();
        }
      }).catch(reject);
    });
    return ids;
  } finally {
    await conn.close();
  }
}

/** Deletes a queue over a fresh engine connection (best effort: the test's own failure matters more). */
export async function deleteQueue(url: string, queue: string): Promise<void> {
  const conn = await connect(url);
  try {
    const ch = await conn.createChannel();
    await ch.queueDelete({ queue });
  } finally {
    await conn.close();
  }
}

export interface WindowedRun {
  /** Publishes settled so far. */
  readonly settled: number;
  /** publishMessage calls made so far. */
  readonly started: number;
  /** Resolves when `started` reaches `n` (at once when it already has). */
  reached(n: number): Promise<void>;
  /** Resolves when every publish settled. */
  done: Promise<{ resolved: number; rejected: number; errors: unknown[]; ms: number }>;
}

/**
 * Publishes `ids.length` messages (messageId = ids[i], a small JSON body) to `routingKey`, keeping at
 * most `window` publishMessage promises outstanding, and (with `maxPerSecond`) no faster than that.
 */
export function publishWindowed(
  mq: AsyncRabbitMQ,
  routingKey: string,
  ids: readonly string[],
  window: number,
  {
    maxPerSecond,
    gate,
    publish: options = {},
  }: {
    maxPerSecond?: number;
    /** Message number `at` (and every later one) waits for `open`: keeps the stream going until then. */
    gate?: { at: number; open: Promise<void> };
    publish?: PublishMessageOptions;
  } = {},
): WindowedRun {
  let started = 0;
  let settled = 0;
  let resolved = 0;
  let rejected = 0;
  const errors: unknown[] = [];
  let wake: (() => void) | undefined;
  const milestones: Array<{ n: number; resolve(): void }> = [];
  const t0 = Date.now();
  const done = (async () => {
    const all: Promise<void>[] = [];
    for (const id of ids) {
      if (gate !== undefined && started === gate.at) await gate.open;
      while (started - settled >= window) await new Promise<void>((r) => (wake = r));
      if (maxPerSecond !== undefined) {
        const due = t0 + (started * 1000) / maxPerSecond;
        if (due > Date.now()) await sleep(due - Date.now());
      }
      started++;
      for (let i = milestones.length - 1; i >= 0; i--) {
        if (started >= milestones[i]!.n) milestones.splice(i, 1)[0]!.resolve();
      }
      all.push(
        mq
          .publishMessage(routingKey, { id, at: Date.now() }, { ...options, messageId: id })
          .then(
            () => {
              resolved++;
            },
            (err: unknown) => {
              rejected++;
              if (errors.length < 20) errors.push(err);
            },
          )
          .finally(() => {
            settled++;
            const w = wake;
            wake = undefined;
            w?.();
          }),
      );
    }
    await Promise.all(all);
    for (const m of milestones.splice(0)) m.resolve();
    return { resolved, rejected, errors, ms: Date.now() - t0 };
  })();
  return {
    get settled() {
      return settled;
    },
    get started() {
      return started;
    },
    reached(n) {
      if (started >= n) return Promise.resolve();
      return new Promise((resolve) => milestones.push({ n, resolve }));
    },
    done,
  };
}

/** How many ids are missing from `received`, and how many extra copies it holds. */
export function tally(
  expected: readonly string[],
  received: readonly string[],
): { lost: string[]; duplicates: number; unexpected: number } {
  const counts = new Map<string, number>();
  for (const id of received) counts.set(id, (counts.get(id) ?? 0) + 1);
  const lost = expected.filter((id) => !counts.has(id));
  const known = new Set(expected);
  let duplicates = 0;
  let unexpected = 0;
  for (const [id, n] of counts) {
    if (!known.has(id)) unexpected += n;
    else duplicates += n - 1;
  }
  return { lost, duplicates, unexpected };
}

/** Polls `check` until it is true; throws `what` after `ms`. */
export function waitUntil(check: () => boolean, what: string, ms: number): Promise<void> {
  return waitFor(check, what, ms);
}

export { sleep };
