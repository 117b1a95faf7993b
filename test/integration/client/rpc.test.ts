/**
 * rpc() / rpcServer() against the real broker: direct reply-to, correlation, timeouts and late replies,
 * remote errors, unroutable requests, connection loss.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AsyncRabbitMQ, type AsyncRabbitMQOptions } from '../../../src/client/async-rabbitmq.js';
import type { RabbitMQConfig } from '../../../src/client/config.js';
import {
  deadLetterName,
  RpcConnectionLostError,
  RpcNoServerError,
  RpcRemoteError,
  RpcTimeoutError,
} from '../../../src/client/consumer.js';
import { ClientClosedError } from '../../../src/client/errors.js';
import { rpc, rpcPending, rpcServer } from '../../../src/client/rpc.js';
import { connect } from '../../../src/connection/connect.js';
import type { Connection } from '../../../src/connection/connection.js';
import { ChannelError } from '../../../src/protocol/errors.js';
import { brokerUrl, rabbitmqctl, uniqueName } from '../../helpers/broker.js';
import { trackUnhandledRejections } from '../../helpers/guards.js';
import { expectNoOpenHandles, handleSnapshot } from '../../helpers/handles.js';
import { sleep, waitFor } from '../../helpers/wait.js';

trackUnhandledRejections();
let cleanups: Array<() => Promise<unknown>> = [];
let queues: string[] = [];
let baseline: Record<string, number> = {};

beforeEach(() => {
  baseline = handleSnapshot();
});
afterEach(async () => {
  for (const fn of cleanups.reverse()) await fn().catch(() => {});
  cleanups = [];
  if (queues.length > 0) {
    const admin: Connection = await connect(brokerUrl());
    const ch = await admin.createChannel();
    for (const queue of queues) await ch.queueDelete({ queue });
    await admin.close();
    queues = [];
  }
  await expectNoOpenHandles(baseline, 2000);
});

async function client(config: RabbitMQConfig = {}, options: AsyncRabbitMQOptions = {}): Promise<AsyncRabbitMQ> {
  const mq = new AsyncRabbitMQ(config, { urls: brokerUrl(), disconnectTimeoutMs: 5000, ...options });
  await mq.connect();
  cleanups.push(() => mq.disconnect());
  return mq;
}

function queueName(label: string): string {
  const q = uniqueName(label);
  queues.push(q, deadLetterName(q));
  return q;
}

describe('rpc', () => {
  it('answers 1 000 concurrent calls, each with its own reply', async () => {
    const q = queueName('rpc.many');
    const mq = await client({ queues: [{ name: q }] });
    const server = await rpcServer(
      mq,
      q,
      async (req: { i: number }) => {
        await sleep(Math.random() * 2);
        return { i: req.i, double: req.i * 2 };
      },
      { prefetch: 50 },
    );
    const replies = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => rpc<{ i: number; double: number }>(mq, q, { i }, { timeoutMs: 20_000 })),
    );
    replies.forEach((r, i) => {
      expect(r).toEqual({ i, double: i * 2 });
    });
    expect(rpcPending(mq)).toBe(0);
    await server.stop();
  });

  it('rejects with ERR_RPC_TIMEOUT and drops the late reply (the pending map is empty again)', async () => {
    const q = queueName('rpc.timeout');
    const mq = await client({ queues: [{ name: q }] });
    let answered = 0;
    const server = await rpcServer(mq, q, async () => {
      await sleep(300);
      answered++;
      return 'late';
    });
    const call = rpc(mq, q, 'ping', { timeoutMs: 100 });
    expect(rpcPending(mq)).toBe(1);
    const err = await call.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RpcTimeoutError);
    expect((err as RpcTimeoutError).code).toBe('ERR_RPC_TIMEOUT');
    expect((err as Error).message).toContain('no reply within 100 ms');
    expect(rpcPending(mq)).toBe(0);
    await waitFor(() => answered === 1, 'the late answer');
    await sleep(50);
    expect(rpcPending(mq)).toBe(0);
    // The channel still works.
    expect(await rpc(mq, q, 'again', { timeoutMs: 2000 })).toBe('late');
    await server.stop();
  });

  it('rejects with RpcRemoteError carrying the message when the server handler throws', async () => {
    const q = queueName('rpc.remote');
    const mq = await client({ queues: [{ name: q }] });
    const server = await rpcServer(mq, q, (req: { n: number }) => {
      if (req.n < 0) throw Object.assign(new Error(`negative: ${req.n}`), { code: 'E_NEGATIVE' });
      return Math.sqrt(req.n);
    });
    expect(await rpc(mq, q, { n: 16 })).toBe(4);
    const err = await rpc(mq, q, { n: -1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RpcRemoteError);
    expect((err as RpcRemoteError).message).toBe('negative: -1');
    expect((err as RpcRemoteError).remoteCode).toBe('E_NEGATIVE');
    expect((err as RpcRemoteError).code).toBe('ERR_RPC_REMOTE');
    await server.stop();
  });

  it('answers schema failures and handler timeouts with errors', async () => {
    const q = queueName('rpc.schema');
    const mq = await client({ queues: [{ name: q }] });
    const server = await rpcServer(mq, q, async (req: { wait: number }) => sleep(req.wait).then(() => 'done'), {
      handlerTimeoutMs: 100,
      schema: {
        safeParse: (v: unknown) =>
          typeof (v as { wait?: unknown })?.wait === 'number'
            ? { success: true, data: v as { wait: number } }
            : { success: false, error: new Error('wait must be a number') },
      },
    });
    expect(await rpc(mq, q, { wait: 1 })).toBe('done');
    await expect(rpc(mq, q, { wait: 'x' })).rejects.toThrow(/wait must be a number/);
    await expect(rpc(mq, q, { wait: 500 })).rejects.toThrow('the handler did not settle within 100 ms');
    await server.stop();
  });

  it('carries text and bytes as they are', async () => {
    const q = queueName('rpc.types');
    const mq = await client({ queues: [{ name: q }] });
    const server = await rpcServer(mq, q, (req: unknown) => {
      if (typeof req === 'string') return req.toUpperCase();
      if (Buffer.isBuffer(req)) return Buffer.from([...req].reverse());
      return req;
    });
    expect(await rpc(mq, q, 'shout')).toBe('SHOUT');
    expect(await rpc(mq, q, Buffer.from([1, 2, 3]))).toEqual(Buffer.from([3, 2, 1]));
    expect(await rpc(mq, q, [1, 'two', null])).toEqual([1, 'two', null]);
    expect(await rpc(mq, q, null)).toBeNull();
    await server.stop();
  });

  it('rejects at once with RpcNoServerError when no queue is bound for the request', async () => {
    const mq = await client();
    const t0 = Date.now();
    const err = await rpc(mq, uniqueName('rpc.nobody'), { x: 1 }, { timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RpcNoServerError);
    expect((err as Error).message).toContain('no server is listening');
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(rpcPending(mq)).toBe(0);
  });

  it('a request to a missing exchange fails with the 404, and the next call works on a new channel', async () => {
    const q = queueName('rpc.404');
    const mq = await client({ queues: [{ name: q }] });
    const server = await rpcServer(mq, q, () => 'ok');
    const err = await rpc(mq, 'x', 'y', { exchange: uniqueName('rpc.noexchange') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChannelError);
    expect((err as ChannelError).replyCode).toBe(404);
    expect(await rpc(mq, q, 'z')).toBe('ok');
    await server.stop();
  });

  it('pending calls reject with a recoverable RpcConnectionLostError when the connection is lost; calls work after the reconnect', async () => {
    const q = queueName('rpc.lost');
    const serverMq = await client({ queues: [{ name: q }] });
    const name = uniqueName('rpc.conn');
    const mq = await client({}, { connectionName: name, reconnect: { baseDelayMs: 50, maxDelayMs: 200 } });
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const server = await rpcServer(serverMq, q, async (req: string) => {
      if (req === 'hang') await gate;
      return `re:${req}`;
    });
    expect(await rpc(mq, q, 'warm')).toBe('re:warm');
    const call = rpc(mq, q, 'hang', { timeoutMs: 20_000 }).catch((e: unknown) => e);
    await sleep(50);
    const out = await rabbitmqctl('list_connections', '--quiet', '--no-table-headers', 'pid', 'client_properties');
    const pid = out
      .split('\n')
      .find((l) => l.includes(`{"connection_name","${name}"}`))
      ?.split('\t')[0]
      ?.trim();
    expect(pid).toBeDefined();
    await rabbitmqctl('close_connection', pid!, 'warren test');
    const err = await call;
    expect(err).toBeInstanceOf(RpcConnectionLostError);
    expect((err as RpcConnectionLostError).recoverable).toBe(true);
    expect(rpcPending(mq)).toBe(0);
    release();
    // A call made while reconnecting waits for the connection.
    expect(await rpc(mq, q, 'after', { timeoutMs: 10_000 })).toBe('re:after');
    await server.stop();
  });

  it('rejects with ClientClosedError when the client is not connected', async () => {
    const mq = new AsyncRabbitMQ({}, { urls: brokerUrl() });
    await expect(rpc(mq, 'q', 'x')).rejects.toBeInstanceOf(ClientClosedError);
    expect(rpcPending(mq)).toBe(0);
  });
});
