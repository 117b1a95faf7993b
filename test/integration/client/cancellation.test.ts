/**
 * Cancellation and deadlines on every call, against the real broker: a publish made during an outage (this
 * client's own connection broken through a proxy) rejects at its deadline or abort and is never sent later;
 * rpc(), connect() and consumer.stop() give up on abort; `await using` disposes a client, a connection and a
 * consumer. Abort latency (abort() to rejection) is logged, with only a generous bound asserted.
 */
import { describe, expect, it } from 'vitest';
import { AsyncRabbitMQ } from '../../../src/client/async-rabbitmq.js';
import type { Consumer } from '../../../src/client/consume/consumer.js';
import { deadLetterName } from '../../../src/client/consume/options.js';
import { rpcPending } from '../../../src/client/rpc/client.js';
import { connect } from '../../../src/connection/connect.js';
import type { Connection } from '../../../src/connection/connection.js';
import type { WarrenError } from '../../../src/protocol/errors.js';
import { brokerUrl, uniqueName } from '../../helpers/broker.js';
import { sleep, waitFor } from '../../helpers/wait.js';
import { brokerUrlWithPort, clientSuite, getAll, messageCount, rejectionOf, startTestProxy } from './client-helpers.js';

const suite = clientSuite();

/** Rejection of `p` and how long after `t0` it came. */
async function timedRejection(p: Promise<unknown>, t0: () => number): Promise<{ err: WarrenError; ms: number }> {
  const err = (await rejectionOf(p)) as WarrenError;
  return { err, ms: performance.now() - t0() };
}

describe('publishMessage during an outage', () => {
  it('rejects at its timeoutMs, at the default publishTimeoutMs, or on abort; none of them is sent once the broker is back', async () => {
    const queue = uniqueName('cancel-outage');
    suite.deleteQueuesAfter(queue);
    const proxy = await startTestProxy();
    suite.defer(() => proxy.close());
    const mq = suite.client(
      { queues: [{ name: queue, durable: true }] },
      {
        urls: brokerUrlWithPort(proxy.port),
        publish: { publishTimeoutMs: 400 },
        reconnect: { baseDelayMs: 50, maxDelayMs: 100 },
      },
    );
    mq.on('error', () => {});
    await mq.connect();
    proxy.refuse();
    proxy.dropAll();
    await waitFor(() => mq.state === 'reconnecting', 'the loss to be noticed');

    const own = await timedRejection(mq.publishMessage(queue, 'own deadline', { timeoutMs: 200 }), () => 0);
    expect(own.err.code).toBe('ERR_PUBLISH_TIMEOUT');
    const start = performance.now();
    const byDefault = await timedRejection(mq.publishMessage(queue, 'default deadline'), () => start);
    expect(byDefault.err.code).toBe('ERR_PUBLISH_TIMEOUT');
    expect(byDefault.ms).toBeGreaterThanOrEqual(350);
    expect(byDefault.ms).toBeLessThan(5000);

    const ac = new AbortController();
    const publishing = mq.publishMessage(queue, 'aborted', { signal: ac.signal, timeoutMs: 60_000 });
    await sleep(50);
    let t0 = 0;
    setImmediate(() => {
      t0 = performance.now();
      ac.abort(new Error('request cancelled'));
    });
    const aborted = await timedRejection(publishing, () => t0);
    console.log(`publishMessage abort latency during an outage: ${aborted.ms.toFixed(3)} ms`);
    expect(aborted.err.code).toBe('ERR_ABORTED');
    expect((aborted.err.cause as Error).message).toBe('request cancelled');
    expect(aborted.ms).toBeLessThan(1000);
    expect(mq.pendingPublishes).toBe(0);

    proxy.restore();
    await waitFor(() => mq.state === 'ready', 'the reconnect', 15_000);
    await mq.publishMessage(queue, 'after');
    const admin = await connect(brokerUrl());
    try {
      const ch = await admin.createChannel();
      await waitFor(async () => (await messageCount(ch, queue)) >= 1, 'the message');
      const bodies = (await getAll(ch, queue)).map((m) => m.body.toString());
      expect(bodies).toEqual(['after']);
    } finally {
      await admin.close();
    }
  });
});

describe('rpc({ signal })', () => {
  it('rejects at once with ERR_ABORTED and forgets the call', async () => {
    const queue = uniqueName('cancel-rpc');
    suite.deleteQueuesAfter(queue);
    const mq = suite.client({ queues: [{ name: queue, durable: true }] });
    await mq.connect();
    const ac = new AbortController();
    const calling = mq.rpc(queue, { q: 1 }, { signal: ac.signal, timeoutMs: 30_000 });
    await sleep(100);
    const t0 = performance.now();
    ac.abort('caller left');
    const { err, ms } = await timedRejection(calling, () => t0);
    console.log(`rpc abort latency: ${ms.toFixed(3)} ms`);
    expect(err.code).toBe('ERR_ABORTED');
    expect(err.cause).toBe('caller left');
    expect(ms).toBeLessThan(1000);
    expect(rpcPending(mq)).toBe(0);
  });
});

describe('connect({ signal, timeoutMs })', () => {
  it('a connect that cannot finish rejects at timeoutMs (ERR_CONNECT_TIMEOUT) and leaves the client idle, nothing running', async () => {
    const proxy = await startTestProxy();
    suite.defer(() => proxy.close());
    proxy.blackHole();
    const mq = suite.client({}, { urls: brokerUrlWithPort(proxy.port), connectionTimeout: 60_000 });
    const t0 = performance.now();
    const { err, ms } = await timedRejection(mq.connect({ timeoutMs: 300 }), () => t0);
    expect(err.code).toBe('ERR_CONNECT_TIMEOUT');
    expect(ms).toBeLessThan(5000);
    await waitFor(() => mq.state === 'idle', 'the attempt to be given up', 5000);
    await waitFor(() => proxy.heldInHole === 0, 'the socket to be closed', 5000);
  });

  it('an abort rejects with ERR_ABORTED; another caller without a signal keeps the attempt alive', async () => {
    const proxy = await startTestProxy();
    suite.defer(() => proxy.close());
    proxy.blackHole();
    const mq = suite.client({}, { urls: brokerUrlWithPort(proxy.port), connectionTimeout: 1000 });
    const patient = mq.connect();
    patient.catch(() => {});
    const ac = new AbortController();
    const impatient = mq.connect({ signal: ac.signal });
    await sleep(50);
    const t0 = performance.now();
    ac.abort();
    const { err, ms } = await timedRejection(impatient, () => t0);
    console.log(`connect abort latency: ${ms.toFixed(3)} ms`);
    expect(err.code).toBe('ERR_ABORTED');
    expect(mq.state).toBe('connecting');
    proxy.restore();
    await patient;
    expect(mq.state).toBe('ready');
  });
});

describe('consumer.stop({ signal })', () => {
  it('cuts a stop that waits for a hung handler short: rejects with ERR_ABORTED, the channel closes, the message is redelivered', async () => {
    const queue = uniqueName('cancel-stop');
    // The consumer declares its dead-letter exchange and queue beside it.
    suite.deleteQueuesAfter(queue, deadLetterName(queue));
    suite.deleteExchangesAfter(deadLetterName(queue));
    const mq = suite.client({ queues: [{ name: queue, durable: true }] });
    await mq.connect();
    let started = 0;
    const consumer = await mq.consume(queue, () => {
      started++;
      return new Promise<void>(() => {}); // never settles
    });
    await mq.publishMessage(queue, 'stuck');
    await waitFor(() => started === 1, 'the handler to start');
    const ac = new AbortController();
    const stopping = consumer.stop({ timeoutMs: 60_000, signal: ac.signal });
    await sleep(100);
    const t0 = performance.now();
    ac.abort();
    const { err, ms } = await timedRejection(stopping, () => t0);
    console.log(`consumer.stop abort latency: ${ms.toFixed(3)} ms`);
    expect(err.code).toBe('ERR_ABORTED');
    await waitFor(() => consumer.state === 'stopped', 'the consumer to stop', 5000);
    const admin = await connect(brokerUrl());
    try {
      const ch = await admin.createChannel();
      await waitFor(async () => (await messageCount(ch, queue)) === 1, 'the redelivery', 5000);
    } finally {
      await admin.close();
    }
  });
});

describe('await using', () => {
  it('disposes a client, a consumer and a connection when the scope ends', async () => {
    const queue = uniqueName('cancel-using');
    // The consumer declares its dead-letter exchange and queue beside it.
    suite.deleteQueuesAfter(queue, deadLetterName(queue));
    suite.deleteExchangesAfter(deadLetterName(queue));
    let client: AsyncRabbitMQ | undefined;
    let consumer: Consumer | undefined;
    let conn: Connection | undefined;
    {
      await using mq = new AsyncRabbitMQ({ queues: [{ name: queue, durable: true }] }, { urls: brokerUrl() });
      client = mq;
      await mq.connect();
      {
        await using c = await mq.consume(queue, async () => {});
        consumer = c;
        expect(c.state).toBe('active');
      }
      expect(consumer.state).toBe('stopped');
      {
        await using cn = await connect(brokerUrl());
        conn = cn;
        expect(cn.isOpen).toBe(true);
      }
      expect(conn.state).toBe('closed');
      expect(mq.state).toBe('ready');
    }
    expect(client.state).toBe('idle');
    expect(client.isConnected).toBe(false);
  });
});
