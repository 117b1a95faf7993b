/**
 * A broker that stays alive (it heartbeats) but never answers a synchronous method: the call must fail with
 * an RpcTimeoutError after the `rpcTimeoutMs` connect option, the channel must close (a late reply must not
 * answer a later call), and no timer may be left behind.
 */
import { describe, expect, it } from 'vitest';
import { ChannelError, ConnectionError, RpcTimeoutError, WarrenError } from '../../src/protocol/errors.js';
import { sleep, waitFor } from '../helpers/wait.js';
import {
  closeCleanly,
  nextClose,
  openChannel,
  openConnection,
  rejection,
  settle,
  trackUnhandledRejections,
  useFakeBroker,
  within,
} from './support.js';

trackUnhandledRejections();

const RPC_TIMEOUT = 400;

function expectRpcTimeout(err: unknown, methodName: string): RpcTimeoutError {
  expect(err).toBeInstanceOf(RpcTimeoutError);
  expect(err).toBeInstanceOf(ChannelError);
  expect(err).toBeInstanceOf(WarrenError);
  const e = err as RpcTimeoutError;
  expect({ code: e.code, methodName: e.methodName, timeoutMs: e.timeoutMs }).toEqual({
    code: 'ERR_RPC_TIMEOUT',
    methodName,
    timeoutMs: RPC_TIMEOUT,
  });
  expect(e.message).toContain(methodName);
  expect(e.message).toContain(`${RPC_TIMEOUT} ms`);
  return e;
}

describe('a synchronous method the broker never answers', () => {
  const fx = useFakeBroker('close-ok');

  it('queue.declare rejects with RpcTimeoutError while the connection heartbeats; the channel closes; a late reply is dropped', async () => {
    const { conn, peer } = await openConnection(
      fx.broker,
      { heartbeat: 1, rpcTimeoutMs: RPC_TIMEOUT },
      { heartbeat: 1 },
    );
    peer.startHeartbeats(200);
    let connectionClosed = false;
    conn.on('close', () => {
      connectionClosed = true;
    });
    const ch = await openChannel(conn, peer);
    const channelClosed = new Promise<unknown>((resolve) => ch.once('close', resolve));
    const declare = ch.queueDeclare({ queue: 'never-answered', durable: true });
    const queued = settle(ch.queueBind({ queue: 'never-answered', exchange: 'x' }));
    await peer.expectMethod('queue.declare', { channel: ch.id });

    const { error, elapsed } = await rejection(declare, 5000, 'queue.declare');
    expectRpcTimeout(error, 'queue.declare');
    expect(elapsed).toBeGreaterThanOrEqual(RPC_TIMEOUT - 50);
    // The call queued behind it fails too, and the channel is closed and unusable.
    const behind = await queued;
    expect(behind.ok).toBe(false);
    expect(await within(channelClosed, 1000, "the channel's close event")).toBe(error);
    expect(ch.isOpen).toBe(false);
    await expect(ch.queueDeclare({ queue: 'q', durable: true })).rejects.toMatchObject({ code: 'ERR_CHANNEL_CLOSED' });
    // The broker was told: channel.close on that channel.
    await peer.expectMethod('channel.close', { channel: ch.id });
    // Only queue.declare was sent: the queued bind never went out after the timeout.
    expect(peer.methods('queue.bind')).toEqual([]);

    // The late reply (and a delivery) for the old channel are dropped, not matched to anything, and the
    // channel id is not reused before the broker's close-ok.
    peer.send(ch.id, 'queue.declare-ok', { queue: 'never-answered', messageCount: 0, consumerCount: 0 });
    const ch2 = await openChannel(conn, peer);
    expect(ch2.id).not.toBe(ch.id);
    peer.send(ch.id, 'channel.close-ok', {});
    await sleep(50);
    expect(conn.isOpen).toBe(true);
    expect(connectionClosed).toBe(false);
    // The new channel works.
    const declared = ch2.queueDeclare({ queue: 'q2', durable: true });
    await peer.expectMethod('queue.declare', { channel: ch2.id });
    peer.send(ch2.id, 'queue.declare-ok', { queue: 'q2', messageCount: 1, consumerCount: 0 });
    expect(await declared).toEqual({ queue: 'q2', messageCount: 1, consumerCount: 0 });
    await closeCleanly(conn, peer);
  });

  it.each([
    {
      method: 'basic.qos',
      call: (ch: import('../../src/connection/channel.js').Channel) => ch.basicQos({ prefetchCount: 5 }),
    },
    { method: 'confirm.select', call: (ch: import('../../src/connection/channel.js').Channel) => ch.confirmSelect() },
    {
      method: 'basic.consume',
      call: (ch: import('../../src/connection/channel.js').Channel) => ch.basicConsume({ queue: 'q' }, () => {}),
    },
    { method: 'channel.close', call: (ch: import('../../src/connection/channel.js').Channel) => ch.close() },
  ])('$method rejects with RpcTimeoutError and closes the channel', async ({ method, call }) => {
    const { conn, peer } = await openConnection(fx.broker, { rpcTimeoutMs: RPC_TIMEOUT });
    const ch = await openChannel(conn, peer);
    const { error } = await rejection(call(ch), 5000, method);
    expectRpcTimeout(error, method);
    expect(ch.state).toBe('closed');
    expect(conn.isOpen).toBe(true);
    await closeCleanly(conn, peer);
  });

  it('channel.open rejects with RpcTimeoutError: createChannel fails, the connection stays open', async () => {
    const { conn, peer } = await openConnection(fx.broker, { rpcTimeoutMs: RPC_TIMEOUT });
    const creating = conn.createChannel();
    await peer.expectMethod('channel.open');
    const { error } = await rejection(creating, 5000, 'createChannel');
    expectRpcTimeout(error, 'channel.open');
    expect(conn.channelCount).toBe(0);
    expect(conn.isOpen).toBe(true);
    await closeCleanly(conn, peer);
  });

  it('connection.update-secret rejects with RpcTimeoutError and closes the connection', async () => {
    const { conn, peer } = await openConnection(fx.broker, { rpcTimeoutMs: RPC_TIMEOUT });
    const closed = nextClose(conn);
    const { error } = await rejection(conn.updateSecret('token', 'refresh'), 5000, 'updateSecret');
    expectRpcTimeout(error, 'connection.update-secret');
    const err = await within(closed, 2000, "the connection's close event");
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err?.code).toBe('ERR_RPC_TIMEOUT');
    await peer.expectMethod('connection.close', { channel: 0 });
    await waitFor(() => conn.state === 'closed', 'the connection to close', 2000);
  });

  it('a call answered in time clears its timer: nothing fires later', async () => {
    const { conn, peer } = await openConnection(fx.broker, { rpcTimeoutMs: RPC_TIMEOUT });
    const ch = await openChannel(conn, peer);
    const qos = ch.basicQos({ prefetchCount: 5 });
    await peer.expectMethod('basic.qos', { channel: ch.id });
    peer.send(ch.id, 'basic.qos-ok', {});
    await qos;
    await sleep(RPC_TIMEOUT + 100);
    expect(ch.isOpen).toBe(true);
    expect(peer.methods('channel.close')).toEqual([]);
    await closeCleanly(conn, peer);
  });
});
