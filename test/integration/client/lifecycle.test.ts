/**
 * AsyncRabbitMQ's life against the real broker: connect (shared attempts, URL failover, credentials that
 * cannot work), disconnect (idempotent, waits for confirms, leaves nothing behind), publishing outside a
 * connection, the environment as the source of settings, and healing a dropped connection.
 *
 * Faults are applied only to this file's own connections, through a local TCP proxy: the broker is
 * shared with tests running in parallel.
 */
import { describe, expect, it } from 'vitest';
import { AsyncRabbitMQ, type AsyncRabbitMQOptions } from '../../../src/client/async-rabbitmq.js';
import { ClientClosedError } from '../../../src/client/errors.js';
import { redactUrl } from '../../../src/client/settings.js';
import { connect } from '../../../src/connection/connect.js';
import { ConnectionError, type WarrenError } from '../../../src/protocol/errors.js';
import { brokerUrl, uniqueName } from '../../helpers/broker.js';
import { expectNoOpenHandles, handleSnapshot } from '../../helpers/handles.js';
import { sleep, waitFor } from '../../helpers/wait.js';
import {
  brokerUrlWithPassword,
  brokerUrlWithPort,
  clientSuite,
  freePort,
  rejectionOf,
  startTestProxy,
} from './client-helpers.js';

const suite = clientSuite();

/** Messages in `queue`, read over a connection of its own. */
async function countMessages(queue: string): Promise<number> {
  const conn = await connect(brokerUrl());
  try {
    const ch = await conn.createChannel();
    return (await ch.queueDeclare({ queue, passive: true })).messageCount;
  } finally {
    await conn.close();
  }
}

describe('publishing outside a connection', () => {
  it('publishMessage before connect() rejects with ClientClosedError, and so does getChannel()', async () => {
    const mq = suite.client();
    expect(mq.state).toBe('idle');
    const err = await rejectionOf(mq.publishMessage('q', 'x'));
    expect(err).toBeInstanceOf(ClientClosedError);
    expect((err as ClientClosedError).code).toBe('ERR_CLIENT_CLOSED');
    expect(await rejectionOf(mq.getChannel())).toBeInstanceOf(ClientClosedError);
    expect(mq.pendingPublishes).toBe(0);
  });

  it('publishMessage after disconnect() rejects with ClientClosedError; connect() works again afterwards', async () => {
    const queue = uniqueName('life.again');
    suite.deleteQueuesAfter(queue);
    const mq = suite.client({ queues: [{ name: queue }] });
    await mq.connect();
    await mq.publishMessage(queue, 'one');
    await mq.disconnect();
    expect(mq.state).toBe('idle');
    expect(mq.isConnected).toBe(false);
    expect(await rejectionOf(mq.publishMessage(queue, 'two'))).toBeInstanceOf(ClientClosedError);
    await mq.connect();
    await mq.publishMessage(queue, 'three');
    expect(await countMessages(queue)).toBe(2);
  });
});

describe('disconnect()', () => {
  it('is idempotent: concurrent calls share one shutdown, one disconnected event, no handles left', async () => {
    const baseline = handleSnapshot();
    const mq = suite.track(new AsyncRabbitMQ({}, { urls: brokerUrl(), heartbeat: 5 }));
    const events: Array<Error | undefined> = [];
    mq.on('disconnected', (err) => events.push(err));
    await mq.connect();
    expect(mq.isConnected).toBe(true);
    const first = mq.disconnect();
    const second = mq.disconnect();
    expect(second).toBe(first);
    expect(mq.state).toBe('disconnecting');
    await Promise.all([first, second]);
    await mq.disconnect();
    expect(mq.state).toBe('idle');
    expect(events).toEqual([undefined]);
    await expectNoOpenHandles(baseline, 2000);
  });

  it('waits for the confirms of messages in flight: 2000 publishes not awaited, all resolve', async () => {
    const queue = uniqueName('life.drain');
    suite.deleteQueuesAfter(queue);
    const mq = suite.client({ queues: [{ name: queue }] });
    await mq.connect();
    const outcomes: string[] = [];
    const all = Array.from({ length: 2000 }, (_, i) =>
      mq.publishMessage(queue, { i }).then(
        () => {
          outcomes.push('ok');
        },
        (err: unknown) => {
          outcomes.push(`rejected: ${(err as Error).message}`);
        },
      ),
    );
    expect(mq.pendingPublishes).toBe(2000);
    await mq.disconnect();
    // Settled by the time disconnect() resolved, not later.
    expect(outcomes.length).toBe(2000);
    await Promise.all(all);
    expect(outcomes.filter((o) => o !== 'ok')).toEqual([]);
    expect(mq.pendingPublishes).toBe(0);
    expect(await countMessages(queue)).toBe(2000);
  });

  it('rejects, rather than drops, what it cannot send within disconnectTimeoutMs', async () => {
    // Confirms of messages to a queue that takes long to confirm cannot arrive in 1 ms.
    const queue = uniqueName('life.timeout');
    suite.deleteQueuesAfter(queue);
    const mq = suite.client({ queues: [{ name: queue }] }, { disconnectTimeoutMs: 1 });
    await mq.connect();
    const results = Array.from({ length: 3000 }, (_, i) =>
      mq.publishMessage(queue, { i }).then(
        () => 'ok',
        (e: unknown) => e,
      ),
    );
    await mq.disconnect();
    const settled = await Promise.all(results);
    const failed = settled.filter((r) => r !== 'ok');
    // Some were still unconfirmed after 1 ms: rejected with ClientClosedError, none left pending.
    expect(failed.length).toBeGreaterThan(0);
    for (const f of failed) expect(f).toBeInstanceOf(ClientClosedError);
    expect(settled.length).toBe(3000);
    expect(mq.pendingPublishes).toBe(0);
  });

  it('while reconnecting with a full buffer: rejects every held and waiting publish with ClientClosedError', async () => {
    const proxy = await startTestProxy();
    suite.defer(() => proxy.close());
    const queue = uniqueName('life.outage');
    suite.deleteQueuesAfter(queue);
    const mq = suite.client(
      { queues: [{ name: queue }] },
      {
        urls: brokerUrlWithPort(proxy.port),
        reconnect: { baseDelayMs: 20, maxDelayMs: 50 },
        publish: { maxBufferedMessages: 100, publishTimeoutMs: 30_000 },
      },
    );
    const lost: unknown[] = [];
    mq.on('disconnected', (err) => lost.push(err));
    await mq.connect();
    proxy.refuse();
    proxy.dropAll();
    await waitFor(() => lost.length === 1 && mq.state === 'reconnecting', 'the client to notice');
    // 100 held in the buffer, 50 more waiting for room.
    const outcomes: unknown[] = [];
    const all = Array.from({ length: 150 }, (_, i) =>
      mq.publishMessage(queue, { i }).then(
        () => outcomes.push('resolved'),
        (err: unknown) => outcomes.push(err),
      ),
    );
    await sleep(50);
    expect(mq.pendingPublishes).toBe(100);
    expect(outcomes).toEqual([]);
    await mq.disconnect();
    await sleep(50);
    expect(outcomes.length, 'publishes still pending after disconnect()').toBe(150);
    for (const o of outcomes) expect(o).toBeInstanceOf(ClientClosedError);
    expect(mq.pendingPublishes).toBe(0);
    await Promise.all(all);
    // Nothing from before disconnect() is sent on a later connection either.
    proxy.restore();
    await mq.connect();
    await mq.publishMessage(queue, 'after');
    await mq.disconnect();
    expect(await countMessages(queue)).toBe(1);
  });

  /** A client whose connection just dropped and whose reconnect attempt hangs in a peer that never answers. */
  async function reconnectingIntoBlackHole(options: AsyncRabbitMQOptions) {
    const proxy = await startTestProxy();
    suite.defer(() => proxy.close());
    const mq = suite.client(
      {},
      { urls: brokerUrlWithPort(proxy.port), reconnect: { baseDelayMs: 10, maxDelayMs: 10 }, ...options },
    );
    const lost: Array<Error | undefined> = [];
    mq.on('disconnected', (err) => lost.push(err));
    await mq.connect();
    const timersBefore = handleSnapshot().Timeout ?? 0;
    proxy.blackHole();
    proxy.dropAll();
    await waitFor(() => lost.length === 1 && proxy.heldInHole === 1, 'a reconnect attempt into the black hole');
    expect(mq.state).toBe('reconnecting');
    return { mq, proxy, timersBefore };
  }

  it('after a lost connection, leaves no reconnect attempt behind (no socket, no timer)', async () => {
    const { mq, proxy, timersBefore } = await reconnectingIntoBlackHole({ connectionTimeout: 3000 });
    await mq.disconnect();
    expect(mq.state).toBe('idle');
    // However long disconnect() took, afterwards the attempt's socket is closed and its timer gone.
    await sleep(200);
    expect(proxy.heldInHole, 'the reconnect attempt is still connected after disconnect() resolved').toBe(0);
    expect(handleSnapshot().Timeout ?? 0).toBeLessThanOrEqual(timersBefore);
  });

  it('honours disconnectTimeoutMs while a reconnect attempt hangs: the attempt is abandoned, not waited out', async () => {
    const { mq, proxy } = await reconnectingIntoBlackHole({ connectionTimeout: 6000, disconnectTimeoutMs: 500 });
    const t0 = Date.now();
    await mq.disconnect();
    const took = Date.now() - t0;
    expect(mq.state).toBe('idle');
    expect(took, 'disconnect() waited for the hanging connection attempt').toBeLessThan(1500);
    await sleep(100);
    expect(proxy.heldInHole).toBe(0);
  });
});

describe('connect()', () => {
  it('concurrent calls share one attempt: one connection, one connected event', async () => {
    const proxy = await startTestProxy();
    suite.defer(() => proxy.close());
    const url = brokerUrlWithPort(proxy.port);
    const mq = suite.client({}, { urls: url });
    const connected: string[] = [];
    mq.on('connected', ({ url }) => connected.push(url));
    const calls = [mq.connect(), mq.connect(), mq.connect()];
    expect(mq.state).toBe('connecting');
    expect(calls[1]).toBe(calls[0]);
    expect(calls[2]).toBe(calls[0]);
    await Promise.all(calls);
    await mq.connect();
    expect(connected).toEqual([redactUrl(url)]);
    expect(proxy.accepted).toBe(1);
    expect(mq.state).toBe('ready');
  });

  it('tries the URLs in turn: an unreachable first one, then the broker', async () => {
    const dead = brokerUrlWithPort(await freePort());
    const mq = suite.client({}, { urls: [dead, brokerUrl()], connectionTimeout: 2000 });
    const connected: string[] = [];
    mq.on('connected', ({ url }) => connected.push(url));
    const t0 = Date.now();
    await mq.connect();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(connected).toEqual([redactUrl(brokerUrl())]);
    expect(mq.isReady).toBe(true);
  });

  it('gives up at once on a wrong password, and never shows the password', async () => {
    const secret = 'Wr0ng-s3cret-p4ss';
    const logged: string[] = [];
    const capture = (...args: unknown[]) => {
      for (const a of args)
        logged.push(typeof a === 'string' ? a : JSON.stringify(a, (_k, v) => (v instanceof Error ? v.message : v)));
    };
    const logger = { debug: capture, info: capture, warn: capture, error: capture };
    const mq = suite.client(
      {},
      { urls: brokerUrlWithPassword(secret), logger, connectRetry: { attempts: 5, baseDelayMs: 3000, jitter: false } },
    );
    const t0 = Date.now();
    const err = await rejectionOf(mq.connect());
    // A retry would have waited 3 s first.
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as WarrenError).recoverable).toBe(false);
    expect((err as WarrenError).replyCode).toBe(403);
    expect((err as WarrenError).code).toBe('ACCESS_REFUSED');
    const texts = [err.message, String(err), err.stack ?? '', ...logged];
    for (let c: unknown = err.cause; c instanceof Error; c = c.cause) texts.push(c.message);
    for (const text of texts) expect(text).not.toContain(secret);
    expect(mq.state).toBe('idle');
    expect(await rejectionOf(mq.publishMessage('q', 'x'))).toBeInstanceOf(ClientClosedError);
  });

  it('takes its settings from the environment when no urls option is given; explicit options win', async () => {
    const names = [
      'RABBITMQ_URL',
      'RABBITMQ_URLS',
      'RABBITMQ_HOST',
      'RABBITMQ_PORT',
      'RABBITMQ_DEFAULT_USER',
      'RABBITMQ_DEFAULT_PASS',
      'RABBITMQ_VHOST',
    ];
    const saved = Object.fromEntries(names.map((n) => [n, process.env[n]]));
    const u = new URL(brokerUrl());
    try {
      for (const n of names) delete process.env[n];
      process.env.RABBITMQ_HOST = u.hostname;
      process.env.RABBITMQ_PORT = u.port || '5672';
      process.env.RABBITMQ_DEFAULT_USER = decodeURIComponent(u.username);
      process.env.RABBITMQ_DEFAULT_PASS = decodeURIComponent(u.password);
      process.env.RABBITMQ_VHOST = '/';
      const fromParts = suite.track(new AsyncRabbitMQ());
      expect(fromParts.settings.urls).toEqual([
        `amqp://${u.username}:${u.password}@${u.hostname}:${u.port || 5672}/%2F`,
      ]);
      await fromParts.connect();
      expect(fromParts.isReady).toBe(true);
      await fromParts.disconnect();

      // RABBITMQ_URLS wins over the parts and fails over like the urls option.
      const dead = brokerUrlWithPort(await freePort());
      process.env.RABBITMQ_URLS = `${dead}, ${brokerUrl()}`;
      const fromList = suite.track(new AsyncRabbitMQ({}, { connectionTimeout: 2000 }));
      expect(fromList.settings.urls).toHaveLength(2);
      await fromList.connect();
      await fromList.disconnect();

      // An explicit urls option ignores the environment entirely.
      process.env.RABBITMQ_URLS = dead;
      const explicit = suite.client({}, { urls: brokerUrl() });
      await explicit.connect();
      expect(explicit.isReady).toBe(true);
    } finally {
      for (const n of names) {
        if (saved[n] === undefined) delete process.env[n];
        else process.env[n] = saved[n];
      }
    }
  });
});

describe('a dropped connection heals', () => {
  it('reconnects, re-declares the topology and confirms everything published around the drop', async () => {
    const proxy = await startTestProxy();
    suite.defer(() => proxy.close());
    const queue = uniqueName('life.heal');
    suite.deleteQueuesAfter(queue);
    const mq = suite.client(
      { queues: [{ name: queue }] },
      { urls: brokerUrlWithPort(proxy.port), reconnect: { baseDelayMs: 20, maxDelayMs: 100 } },
    );
    const events: string[] = [];
    mq.on('connected', () => events.push('connected'));
    mq.on('disconnected', (err) => events.push(`disconnected:${err ? (err as WarrenError).code : 'none'}`));
    await mq.connect();
    const ids = Array.from({ length: 3000 }, (_, i) => `heal-${i}`);
    const results = ids.map((id, i) => {
      if (i === 1500) proxy.dropAll();
      return mq.publishMessage(queue, id, { messageId: id }).then(
        () => 'ok',
        (e: unknown) => e,
      );
    });
    const settled = await Promise.all(results);
    expect(settled.filter((r) => r !== 'ok')).toEqual([]);
    expect(events[0]).toBe('connected');
    expect(events.some((e) => e.startsWith('disconnected:') && e !== 'disconnected:none')).toBe(true);
    expect(events.filter((e) => e === 'connected').length).toBeGreaterThanOrEqual(2);
    expect(proxy.accepted).toBeGreaterThanOrEqual(2);
    expect(mq.state).toBe('ready');
    // At least every message (republished ones may be there twice, with the same messageId).
    const conn = await connect(brokerUrl());
    try {
      const ch = await conn.createChannel();
      const seen = new Set<string>();
      for (;;) {
        const m = await ch.basicGet({ queue, noAck: true });
        if (m === null) break;
        seen.add(String(m.properties.messageId));
      }
      expect(seen.size).toBe(ids.length);
    } finally {
      await conn.close();
    }
  });
});
