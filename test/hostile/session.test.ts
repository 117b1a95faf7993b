/**
 * The client's session against a fake broker that fails at exact points of the session's setup and
 * shutdown, which a real broker cannot be made to do: a connection closed (320) at basic.consume, a
 * connection that drops right after it is ready, a broker that never answers connection.close.
 */
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AsyncRabbitMQ, type AsyncRabbitMQOptions } from '../../src/client/async-rabbitmq.js';
import type { RabbitMQConfig } from '../../src/client/config.js';
import { trackUnhandledRejections } from '../helpers/guards.js';
import { expectNoOpenHandles, handleSnapshot } from '../helpers/handles.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { SessionBroker } from './session-broker.js';

trackUnhandledRejections();

let broker: SessionBroker;
let clients: AsyncRabbitMQ[] = [];
let baseline: Record<string, number> = {};

beforeEach(async () => {
  baseline = handleSnapshot();
  broker = await SessionBroker.start();
});

afterEach(async () => {
  await Promise.all(clients.map((c) => c.disconnect().catch(() => {})));
  clients = [];
  await broker.close();
  await expectNoOpenHandles(baseline, 2000);
});

function client(config: RabbitMQConfig = {}, options: AsyncRabbitMQOptions = {}): AsyncRabbitMQ {
  const mq = new AsyncRabbitMQ(config, { urls: broker.url(), heartbeat: 0, connectionTimeout: 2000, ...options });
  mq.on('error', () => {}); // background failures are expected here; the assertions count what matters
  clients.push(mq);
  return mq;
}

describe('session setup', () => {
  it('a connection closed (320) at basic.consume for 2 s: one reconnect loop with kept backoff, one connection and consumer afterwards, none after disconnect()', async () => {
    const mq = client({ queues: [{ name: 'q-setup' }] });
    await mq.connect();
    const consumer = await mq.consume('q-setup', async () => {});
    expect(broker.liveConsumers).toBe(1);

    let faulty = true;
    broker.plan = (m) =>
      faulty && m.name === 'basic.consume' ? { kind: 'close-connection', replyCode: 320 } : undefined;
    const before = broker.attempts;
    broker.open[0]!.closeConnection(320);
    await sleep(2000);
    faulty = false;
    const during = broker.attempts - before;
    // 100 ms doubling: about six attempts fit into 2 s. A second loop per lost setup makes thousands.
    expect(during).toBeGreaterThanOrEqual(2);
    expect(during).toBeLessThanOrEqual(10);

    await waitFor(() => mq.state === 'ready' && consumer.state === 'active', 'the client to recover', 10_000);
    await sleep(300); // anything a stray loop would still open
    expect(broker.open.length).toBe(1);
    expect(broker.liveConsumers).toBe(1);

    await mq.disconnect();
    await waitFor(() => broker.open.length === 0, 'every connection closed', 2000);
    expect(broker.open.length).toBe(0);
  });

  it('a session that drops right after it is ready does not reset the backoff', async () => {
    const mq = client({ queues: [{ name: 'q-flap' }] });
    await mq.connect();
    await mq.consume('q-flap', async () => {});
    let flapping = true;
    broker.plan = (m) => (flapping && m.name === 'basic.consume' ? { kind: 'answer-then-close', ms: 20 } : undefined);
    const before = broker.attempts;
    broker.open[0]!.closeConnection(320);
    await sleep(2000);
    flapping = false;
    const during = broker.attempts - before;
    // Reset after every handshake it reconnects every ~100 ms (15+ in 2 s); kept, the delays double.
    expect(during).toBeLessThanOrEqual(8);
    await waitFor(() => mq.state === 'ready', 'the client to recover', 10_000);
    expect(broker.open.length).toBe(1);
    await mq.disconnect();
    await waitFor(() => broker.open.length === 0, 'every connection closed', 2000);
    expect(broker.open.length).toBe(0);
  });
});

describe('disconnect()', () => {
  it('is one deadline even when the broker never answers connection.close: the socket is destroyed', async () => {
    const mq = client({ queues: [{ name: 'q-close' }] });
    await mq.connect();
    await mq.consume('q-close', async () => {});
    broker.plan = (m) => (m.name === 'connection.close' ? { kind: 'hang' } : undefined);
    const started = Date.now();
    await mq.disconnect({ timeoutMs: 300 });
    const took = Date.now() - started;
    // The engine's own close-ok wait is 5 s; the client's deadline ends the shutdown first.
    expect(took).toBeLessThan(2000);
    expect(mq.state).toBe('idle');
    await waitFor(() => broker.open.length === 0, 'the socket to be gone', 1000);
  });
});

describe('disconnect() during a set-up that hangs', () => {
  it('ends by its deadline; the half set-up connection is dropped, no consumer left', async () => {
    const mq = client({ queues: [{ name: 'q-hang' }] });
    await mq.connect();
    await mq.consume('q-hang', async () => {});
    broker.plan = (m) => (m.name === 'basic.consume' ? { kind: 'hang' } : undefined);
    const before = broker.attempts;
    broker.open[0]!.closeConnection(320);
    await waitFor(() => broker.attempts > before && broker.open.length === 1, 'a reconnect attempt', 5000);
    await waitFor(() => broker.peers.at(-1)!.received.some((r) => r.endsWith('basic.consume')), 'the hanging consume');
    expect(mq.state).toBe('reconnecting');
    const started = Date.now();
    await mq.disconnect({ timeoutMs: 400 });
    expect(Date.now() - started).toBeLessThan(1500);
    expect(mq.state).toBe('idle');
    await waitFor(() => broker.open.length === 0, 'the half set-up connection to be gone', 2000);
    expect(broker.liveConsumers).toBe(0);
  });
});

describe('util.inspect', () => {
  it('never shows the password, before and after connecting', async () => {
    const secret = 'pw-s3cret-7731';
    const mq = client({ queues: [{ name: 'q-inspect' }] }, { urls: broker.url(secret) });
    const before = inspect(mq, { depth: 10, showHidden: true });
    expect(before).not.toContain(secret);
    await mq.connect();
    const consumer = await mq.consume('q-inspect', async () => {});
    for (const what of [mq, consumer]) {
      const text = inspect(what, { depth: 10, showHidden: true });
      expect(text).not.toContain(secret);
      expect(text).not.toContain(encodeURIComponent(secret));
    }
    expect(String(mq)).not.toContain(secret);
    expect(JSON.stringify({ s: mq.state })).not.toContain(secret);
  });
});
