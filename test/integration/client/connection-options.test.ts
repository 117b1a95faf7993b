/**
 * Connection options of AsyncRabbitMQ that mean what they say, against the real broker: heartbeat 0 is
 * off (the broker agrees: its connection's timeout is 0), the URL's heartbeat wins over the default, the
 * engine's mechanism / clientProperties / channelMax reach the handshake, a credentials provider is asked
 * at every (re)connect, and updateSecret() renews the live connection's secret and the one used to reconnect.
 * Only this file's own named connections are closed (rabbitmqctl close_connection).
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { AsyncRabbitMQ, type AsyncRabbitMQOptions } from '../../../src/client/async-rabbitmq.js';
import { brokerUrl, rabbitmqctl, uniqueName } from '../../helpers/broker.js';
import { waitFor } from '../../helpers/wait.js';
import { connectionPid } from '../engine/engine-helpers.js';
import { brokerUrlWithPassword, clientSuite, rejectionOf } from './client-helpers.js';

const suite = clientSuite();

function withQuery(query: string): string {
  const u = new URL(brokerUrl());
  u.search = query;
  return u.toString();
}

function named(options: AsyncRabbitMQOptions): { mq: AsyncRabbitMQ; name: string } {
  const name = uniqueName('conn-options');
  const mq = suite.track(new AsyncRabbitMQ({}, { urls: brokerUrl(), connectionName: name, ...options }));
  mq.on('error', () => {});
  return { mq, name };
}

/** What the broker lists for the connection named `name` (one rabbitmqctl column). */
async function brokerColumn(name: string, column: string): Promise<string | undefined> {
  const out = await rabbitmqctl('list_connections', '--quiet', '--no-table-headers', 'client_properties', column);
  for (const line of out.split('\n')) {
    if (line.includes(`{"connection_name","${name}"}`)) return line.split('\t').at(-1)?.trim();
  }
  return undefined;
}

describe('heartbeat', () => {
  it('heartbeat: 0 turns heartbeats off: negotiated 0, and the broker lists a timeout of 0', async () => {
    const { mq, name } = named({ heartbeat: 0 });
    await mq.connect();
    expect(mq.connection?.heartbeatSeconds).toBe(0);
    expect(await brokerColumn(name, 'timeout')).toBe('0');
  });

  it('?heartbeat=0 in the URL does the same, over the client default of 300', async () => {
    const { mq, name } = named({ urls: withQuery('heartbeat=0') });
    await mq.connect();
    expect(mq.connection?.heartbeatSeconds).toBe(0);
    expect(await brokerColumn(name, 'timeout')).toBe('0');
  });

  it('?heartbeat=7 in the URL wins over the default; an explicit option wins over the URL', async () => {
    const a = named({ urls: withQuery('heartbeat=7') }).mq;
    await a.connect();
    expect(a.connection?.heartbeatSeconds).toBe(7);
    const b = named({ urls: withQuery('heartbeat=7'), heartbeat: 5 }).mq;
    await b.connect();
    expect(b.connection?.heartbeatSeconds).toBe(5);
  });
});

describe('what the engine has', () => {
  it('clientProperties reach the broker; channelMax is negotiated', async () => {
    const { mq, name } = named({ clientProperties: { team: 'billing-lifeapi' }, channelMax: 5 });
    await mq.connect();
    expect(mq.connection?.channelMax).toBe(5);
    expect(await brokerColumn(name, 'client_properties')).toContain('billing-lifeapi');
  });

  it("mechanism: 'EXTERNAL' is what the client asks for (this broker does not offer it: a typed refusal)", async () => {
    const { mq } = named({ mechanism: 'EXTERNAL', connectRetry: { attempts: 1 } });
    const err = (await rejectionOf(mq.connect())) as Error & { code?: string; cause?: { code?: string } };
    expect(JSON.stringify([err.code, err.cause?.code, err.message])).toContain('ERR_AUTH_MECHANISM');
  });
});

describe('credentials provider', () => {
  it('is called once per connect, again after the broker closed the connection, and its secret is never printed', async () => {
    let calls = 0;
    const { mq, name } = named({
      urls: brokerUrlWithPassword('not-the-password'),
      credentials: async () => {
        calls++;
        return { username: 'guest', password: 'guest' };
      },
    });
    await mq.connect();
    expect(calls).toBe(1);
    const pid = await connectionPid(name);
    expect(pid).toBeDefined();
    await rabbitmqctl('close_connection', pid!, 'warren test: reconnect with fresh credentials');
    await waitFor(() => mq.state === 'reconnecting', 'the loss to be noticed');
    await waitFor(() => mq.state === 'ready', 'the reconnect', 15_000);
    expect(calls).toBe(2);
    await mq.publishMessage('', 'ping', { mandatory: false });
    expect(inspect(mq, { depth: 10 })).not.toContain('not-the-password');
  });

  it('a provider that throws fails the connect attempt with its error as the cause', async () => {
    const { mq } = named({
      connectRetry: { attempts: 1 },
      credentials: () => {
        throw new Error('vault unreachable');
      },
    });
    const err = await rejectionOf(mq.connect());
    expect(JSON.stringify([err.message, (err as { cause?: Error }).cause?.message])).toContain('vault unreachable');
  });
});

describe('updateSecret', () => {
  it('renews the live connection; the new secret is what the next reconnect logs in with', async () => {
    const { mq, name } = named({ reconnect: { baseDelayMs: 50, maxDelayMs: 200 } });
    await mq.connect();
    await mq.updateSecret('rotated-s3cret', 'token refresh');
    expect(mq.state).toBe('ready');
    const failures: unknown[] = [];
    mq.on('reconnecting', ({ error }) => failures.push(error));
    const pid = await connectionPid(name);
    await rabbitmqctl('close_connection', pid!, 'warren test: reconnect with the rotated secret');
    // guest's password is not the rotated secret: the reconnect proves which secret it used by failing.
    await waitFor(() => failures.length > 0, 'a reconnect attempt', 15_000);
    expect((failures[0] as { code?: string }).code).toBe('ACCESS_REFUSED');
    expect(inspect(mq, { depth: 10 })).not.toContain('rotated-s3cret');
    expect(JSON.stringify(failures)).not.toContain('rotated-s3cret');
  });

  it('rejects when not connected', async () => {
    const { mq } = named({});
    const err = await rejectionOf(mq.updateSecret('x', 'y'));
    expect((err as { code?: string }).code).toBe('ERR_CLIENT_CLOSED');
  });
});
