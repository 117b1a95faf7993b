import { connect as netConnect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ConnectionError } from '../../../src/protocol/errors.js';
import { brokerOptions, brokerUrlWith, engineSuite, nextEvent, settleAllWithin, sleep } from './engine-helpers.js';

const suite = engineSuite();

async function brokerSocket(): Promise<Socket> {
  const o = brokerOptions();
  const socket = netConnect({ host: o.hostname!, port: o.port! });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

describe('heartbeats', () => {
  it('keep an idle connection open well past two heartbeat intervals', async () => {
    const conn = await suite.open(brokerUrlWith('heartbeat=1'));
    expect(conn.heartbeatSeconds).toBe(1);
    const closes: unknown[] = [];
    conn.on('close', (err) => closes.push(err));
    await sleep(3500);
    expect(closes).toEqual([]);
    expect(conn.isOpen).toBe(true);
    const ch = await conn.createChannel();
    await expect(ch.queueDeclare({ queue: '', exclusive: true })).resolves.toBeDefined();
  });

  it('time out when nothing is read from the broker for two intervals (ERR_HEARTBEAT_TIMEOUT)', async () => {
    const socket = await brokerSocket();
    const conn = await suite.open(brokerOptions({ heartbeat: 1, stream: socket }));
    const ch = await conn.createChannel();
    const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
    const closed = nextEvent<[unknown]>(conn, 'close', 6000);
    const started = Date.now();
    // Stop reading: to the client the broker has gone silent.
    socket.pause();
    const pending = settleAllWithin<unknown>([ch.basicGet({ queue }), ch.queueDeclare({ queue, passive: true })], 6000);
    const [err] = await closed;
    const elapsed = Date.now() - started;
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).code).toBe('ERR_HEARTBEAT_TIMEOUT');
    expect(elapsed).toBeGreaterThanOrEqual(1500);
    expect(elapsed).toBeLessThan(4000);
    const outcomes = await pending;
    for (const o of outcomes) {
      expect(o.status).toBe('rejected');
      if (o.status === 'rejected') expect((o.reason as ConnectionError).code).toBe('ERR_HEARTBEAT_TIMEOUT');
    }
    expect(socket.destroyed).toBe(true);
  });
});

describe('client close with work in flight', () => {
  it('conn.close() rejects pending channel calls and unconfirmed publishes with ConnectionError', async () => {
    const conn = await suite.open();
    const ch = await conn.createChannel();
    await ch.confirmSelect();
    const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
    const channelClosed = nextEvent<[unknown]>(ch, 'close');
    const pending = settleAllWithin<unknown>(
      [
        ch.queueDeclare({ queue: '', exclusive: true }),
        ch.basicPublish({ routingKey: queue }, 'a'),
        ch.basicGet({ queue }),
      ],
      2000,
    );
    await conn.close();
    const outcomes = await pending;
    for (const o of outcomes) {
      expect(o.status).toBe('rejected');
      if (o.status !== 'rejected') continue;
      expect(o.reason).toBeInstanceOf(ConnectionError);
      expect((o.reason as ConnectionError).code).toBe('ERR_CONNECTION_CLOSED');
    }
    const [chErr] = await channelClosed;
    expect(chErr).toBeInstanceOf(ConnectionError);
    expect(ch.unconfirmed).toBe(0);
  });
});
