import { connect as netConnect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ConnectionError } from '../../../src/protocol/errors.js';
import { rabbitmqctl, uniqueName } from '../../helpers/broker.js';
import {
  brokerOptions,
  connectionGone,
  connectionPid,
  engineSuite,
  nextEvent,
  settleAllWithin,
} from './engine-helpers.js';

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

/** The pid of our connection; rabbitmqctl may list it a moment after the handshake. */
async function pidOf(name: string): Promise<string> {
  for (let i = 0; i < 20; i++) {
    const pid = await connectionPid(name);
    if (pid !== undefined) return pid;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`connection ${name} not listed by rabbitmqctl`);
}

function expectForced(err: unknown, reason: string): void {
  expect(err).toBeInstanceOf(ConnectionError);
  const e = err as ConnectionError;
  expect(e.replyCode).toBe(320);
  expect(e.code).toBe('CONNECTION_FORCED');
  expect(e.recoverable).toBe(true);
  expect(e.replyText).toContain(reason);
}

describe('connection closed by the broker (rabbitmqctl close_connection)', () => {
  it("emits 'close' with ConnectionError 320 CONNECTION_FORCED; channels emit 'close' too", async () => {
    const name = uniqueName('forced.simple');
    const conn = await suite.open(brokerOptions({ connectionName: name }));
    const ch1 = await conn.createChannel();
    const ch2 = await conn.createChannel();
    await ch1.queueDeclare({ queue: '', exclusive: true });
    const connClosed = nextEvent<[unknown]>(conn, 'close', 15_000);
    const ch1Closed = nextEvent<[unknown]>(ch1, 'close', 15_000);
    const ch2Closed = nextEvent<[unknown]>(ch2, 'close', 15_000);
    const reason = `warren test ${name}`;
    const pid = await pidOf(name);
    expect(pid).toMatch(/^<[\w.-]+@[^>]+\.\d+\.\d+\.\d+>$/);
    await rabbitmqctl('close_connection', pid, reason);
    const [err] = await connClosed;
    expectForced(err, reason);
    for (const [chErr] of [await ch1Closed, await ch2Closed]) {
      expect(chErr).toBeInstanceOf(ConnectionError);
      expect((chErr as ConnectionError).replyCode).toBe(320);
      expect((chErr as ConnectionError).code).toBe('CONNECTION_FORCED');
      expect((chErr as ConnectionError).cause).toBe(err);
    }
    expect(conn.state).toBe('closed');
    expect(ch1.state).toBe('closed');
    // Everything afterwards fails with a ConnectionError instead of hanging.
    const late = await ch1.queueDeclare({ queue: '', exclusive: true }).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(ConnectionError);
    expect((late as ConnectionError).replyCode).toBe(320);
    const noChannel = await conn.createChannel().catch((e: unknown) => e);
    expect(noChannel).toBeInstanceOf(ConnectionError);
    await conn.close(); // resolves at once
    expect(await connectionGone(name)).toBe(true);
  });

  it('rejects operations pending when the close arrives (RPCs, consumers, confirms) with the 320 error', async () => {
    const name = uniqueName('forced.pending');
    const socket = await brokerSocket();
    const conn = await suite.open(brokerOptions({ connectionName: name, stream: socket }));
    const ch = await conn.createChannel();
    const confirmCh = await conn.createChannel();
    await confirmCh.confirmSelect();
    const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
    const closeEvents: string[] = [];
    conn.on('close', () => closeEvents.push('connection'));
    ch.on('close', () => closeEvents.push('ch'));
    confirmCh.on('close', () => closeEvents.push('confirmCh'));
    const connClosed = nextEvent<[unknown]>(conn, 'close', 15_000);
    const pid = await pidOf(name);

    // Hold back what the broker sends, so its connection.close is read only after the calls below are
    // made. The broker, closing, ignores these calls: none of them can be answered.
    socket.pause();
    const reason = `pending test ${name}`;
    await rabbitmqctl('close_connection', pid, reason);
    const pending = settleAllWithin<unknown>(
      [
        ch.queueDeclare({ queue: uniqueName('forced.never'), durable: true }),
        ch.basicGet({ queue }),
        ch.basicConsume({ queue }, () => {}),
        confirmCh.basicPublish({ routingKey: queue }, 'one'),
        confirmCh.basicPublish({ routingKey: queue }, 'two'),
        confirmCh.queuePurge({ queue }),
        conn.createChannel(),
      ],
      10_000,
    );
    expect(confirmCh.unconfirmed).toBe(2);
    socket.resume();

    const [err] = await connClosed;
    expectForced(err, reason);
    const outcomes = await pending;
    for (const o of outcomes) {
      expect(o.status).toBe('rejected');
      if (o.status !== 'rejected') continue;
      expect(o.reason).toBeInstanceOf(ConnectionError);
      expect((o.reason as ConnectionError).replyCode).toBe(320);
    }
    expect(confirmCh.unconfirmed).toBe(0);
    expect(closeEvents.sort()).toEqual(['ch', 'confirmCh', 'connection']);
    expect(conn.state).toBe('closed');
    expect(socket.destroyed).toBe(true);
  });
});
