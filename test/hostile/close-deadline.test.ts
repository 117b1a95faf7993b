/**
 * `Connection.close()` against a broker that has stopped reading (as under a memory alarm, after megabytes
 * were written): the close frame can never get through, so close() must give up at its deadline, destroy
 * the socket, and fail everything still pending with a CloseTimeoutError. No socket or timer may be left.
 */
import { describe, expect, it } from 'vitest';
import type { Channel } from '../../src/connection/channel.js';
import type { Connection } from '../../src/connection/connection.js';
import { CloseTimeoutError, ConnectionError } from '../../src/protocol/errors.js';
import { waitFor } from '../helpers/wait.js';
import type { FakePeer } from './fake-broker.js';
import { openChannel, openConnection, settle, trackUnhandledRejections, useFakeBroker, within } from './support.js';

trackUnhandledRejections();

const MB = Buffer.alloc(1024 * 1024, 0x61);

/** Publishes 1 MB bodies until the socket's buffer is full, then a few more; returns their promises. */
async function fillSocket(conn: Connection, ch: Channel): Promise<Promise<void>[]> {
  const publishes: Promise<void>[] = [];
  for (let i = 0; i < 256 && !conn.output.needsDrain; i++) {
    publishes.push(ch.basicPublish({ routingKey: 'q' }, MB));
    await new Promise((r) => setImmediate(r));
  }
  expect(conn.output.needsDrain).toBe(true);
  return publishes;
}

async function confirmChannel(conn: Connection, peer: FakePeer): Promise<Channel> {
  const ch = await openChannel(conn, peer);
  const selecting = ch.confirmSelect();
  await peer.expectMethod('confirm.select', { channel: ch.id });
  peer.send(ch.id, 'confirm.select-ok', {});
  await selecting;
  return ch;
}

function expectCloseTimeout(outcome: { ok: boolean; error?: unknown }, what: string): void {
  expect(outcome.ok, `${what} should reject`).toBe(false);
  expect(outcome.error, what).toBeInstanceOf(CloseTimeoutError);
  expect(outcome.error, what).toBeInstanceOf(ConnectionError);
  expect((outcome.error as CloseTimeoutError).code).toBe('ERR_CLOSE_TIMEOUT');
}

describe('close() while the broker is not reading', () => {
  const fx = useFakeBroker('close-ok');

  it('settles within close({ timeoutMs }), destroys the socket and rejects every pending operation with CloseTimeoutError', async () => {
    const { conn, peer } = await openConnection(fx.broker, { rpcTimeoutMs: 60_000 });
    const confirming = await confirmChannel(conn, peer);
    const ch = await openChannel(conn, peer);
    // A confirm the broker will never send, and a declare it will never answer.
    const confirm = settle(confirming.basicPublish({ routingKey: 'q' }, 'needs a confirm'));
    const declare = settle(ch.queueDeclare({ queue: 'never', durable: true }));
    await peer.expectMethod('queue.declare', { channel: ch.id });

    peer.stopReading();
    const publishes = await fillSocket(conn, ch);
    const drainWaiter = settle(publishes[publishes.length - 1]!);
    let closeEvents = 0;
    conn.on('close', () => closeEvents++);

    const t0 = Date.now();
    await within(conn.close({ timeoutMs: 300 }), 2000, 'conn.close({ timeoutMs: 300 })');
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(conn.state).toBe('closed');
    expect(closeEvents).toBe(1);

    expectCloseTimeout(await within(declare, 500, 'queue.declare'), 'the pending queue.declare');
    expectCloseTimeout(await within(confirm, 500, 'the confirm'), 'the pending confirm');
    expectCloseTimeout(await within(drainWaiter, 500, 'the drain waiter'), 'the publish waiting for drain');
    const err = (await declare) as { ok: false; error: CloseTimeoutError };
    expect(err.error.message).toMatch(/300 ms/);
    // The socket is gone on the broker's side too (once it reads again, it sees the end).
    peer.resumeReading();
    await waitFor(() => peer.closed, 'the socket to close', 2000);
    // A second close() resolves at once.
    await within(conn.close(), 100, 'a second close()');
  });

  it('a close() already waiting is cut short by a later close() with a shorter deadline', async () => {
    const { conn, peer } = await openConnection(fx.broker);
    const ch = await openChannel(conn, peer);
    peer.stopReading();
    await fillSocket(conn, ch).then((ps) => ps.map(settle));
    const first = settle(conn.close()); // default deadline: seconds
    const t0 = Date.now();
    await within(conn.close({ timeoutMs: 200 }), 2000, 'conn.close({ timeoutMs: 200 })');
    expect(Date.now() - t0).toBeLessThan(1500);
    expect((await within(first, 500, 'the first close()')).ok).toBe(true);
    expect(conn.state).toBe('closed');
    peer.resumeReading();
    await waitFor(() => peer.closed, 'the socket to close', 2000);
  });

  it('a deadline longer than the default is honoured: close-ok arriving after 5 s still closes cleanly', async () => {
    const broker = await fx.restart('ignore');
    const { conn, peer } = await openConnection(broker);
    const closing = settle(conn.close({ timeoutMs: 8000 }));
    await peer.expectMethod('connection.close', { channel: 0 });
    await new Promise((r) => setTimeout(r, 5300)); // past DEFAULT_CLOSE_TIMEOUT_MS
    expect(peer.closed).toBe(false);
    expect(conn.state).toBe('closing');
    peer.send(0, 'connection.close-ok', {});
    expect((await within(closing, 2000, 'conn.close()')).ok).toBe(true);
    await peer.expectClientGone();
  }, 15_000);

  it('close({ timeoutMs }) out of range throws a typed error and changes nothing', async () => {
    const { conn, peer } = await openConnection(fx.broker);
    await expect(conn.close({ timeoutMs: -1 })).rejects.toMatchObject({ code: 'ERR_CONNECT_OPTIONS' });
    expect(conn.isOpen).toBe(true);
    await within(conn.close(), 2000, 'conn.close()');
    await peer.expectClientGone();
  });
});
