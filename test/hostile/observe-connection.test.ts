/**
 * The connection side of mq.stats() and the diagnostics channels, against the fake session broker: a
 * broker node that drops the connection (a reconnect, counted once) and blocks it for a while (time
 * blocked) — which the shared real broker must not be made to do.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AsyncRabbitMQ } from '../../src/client/async-rabbitmq.js';
import { CHANNELS } from '../../src/client/observe/index.js';
import { trackUnhandledRejections } from '../helpers/guards.js';
import { expectNoOpenHandles, handleSnapshot } from '../helpers/handles.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { methodFrame } from './fake-broker.js';
import { SessionBroker } from './session-broker.js';

trackUnhandledRejections();

let broker: SessionBroker;
let mq: AsyncRabbitMQ | undefined;
let baseline: Record<string, number> = {};
const events: Array<{ name: string; data: Record<string, unknown> }> = [];
const listeners = Object.values(CHANNELS).map((name) => {
  const fn = (data: unknown) => events.push({ name, data: data as Record<string, unknown> });
  return { name, fn };
});

beforeEach(async () => {
  baseline = handleSnapshot();
  broker = await SessionBroker.start();
  events.length = 0;
  for (const { name, fn } of listeners) subscribe(name, fn);
});

afterEach(async () => {
  for (const { name, fn } of listeners) unsubscribe(name, fn);
  await mq?.disconnect();
  mq = undefined;
  await broker.close();
  await expectNoOpenHandles(baseline, 2000);
});

describe('connection events and stats', () => {
  it('a dropped connection: disconnect (with the error), connect again; one reconnect counted, none for disconnect()', async () => {
    mq = new AsyncRabbitMQ({}, { urls: broker.url('s3cret'), heartbeat: 0, connectionTimeout: 2000 });
    await mq.connect();
    broker.open[0]!.closeConnection(320);
    await waitFor(() => broker.open.length === 1 && mq!.state === 'ready' && broker.attempts === 2, 'the reconnect');
    await mq.disconnect();
    await mq.connect(); // a connect after disconnect() is no reconnect
    expect(mq.stats().reconnects).toBe(1);
    const names = events.map((e) => e.name).filter((n) => n !== CHANNELS.reconnecting);
    expect(names).toEqual([
      CHANNELS.connect,
      CHANNELS.disconnect,
      CHANNELS.connect,
      CHANNELS.disconnect,
      CHANNELS.connect,
    ]);
    expect((events[1]!.data.error as { replyCode?: number }).replyCode).toBe(320);
    expect(events.find((e) => e.name === CHANNELS.disconnect && e.data.error === undefined)).toBeDefined();
    const connect = events[0]!.data as { url: string; client: { serverAddress: string; serverPort: number } };
    expect(connect.url).not.toContain('s3cret');
    expect(connect.client).toMatchObject({ serverAddress: '127.0.0.1', serverPort: broker.port });
  });

  it('blocked for a while: blocked / unblocked events and the time in stats', async () => {
    mq = new AsyncRabbitMQ({}, { urls: broker.url(), heartbeat: 0, connectionTimeout: 2000 });
    await mq.connect();
    const peer = broker.open[0]!;
    peer.writeRaw(methodFrame(0, 'connection.blocked', { reason: 'low on memory' }));
    await waitFor(() => mq!.stats().blocked, 'the block');
    await sleep(120);
    const during = mq.stats();
    expect(during.blocked).toBe(true);
    expect(during.blockedMs).toBeGreaterThanOrEqual(100);
    peer.writeRaw(methodFrame(0, 'connection.unblocked', {}));
    await waitFor(() => !mq!.stats().blocked, 'the unblock');
    const after = mq.stats().blockedMs;
    expect(after).toBeGreaterThanOrEqual(during.blockedMs);
    await sleep(50);
    expect(mq.stats().blockedMs).toBe(after); // not counting any more
    const blocked = events.find((e) => e.name === CHANNELS.blocked)!;
    expect(blocked.data.reason).toBe('low on memory');
    const unblocked = events.find((e) => e.name === CHANNELS.unblocked)!;
    expect(unblocked.data.blockedMs as number).toBeGreaterThanOrEqual(100);
  });
});
