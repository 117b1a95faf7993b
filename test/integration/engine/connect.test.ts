import { createServer, type Server, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { connect } from '../../../src/connection/connect.js';
import type { LifecycleState } from '../../../src/connection/lifecycle.js';
import { ConnectionError } from '../../../src/protocol/errors.js';
import { brokerUrl, rabbitmqctl, uniqueName } from '../../helpers/broker.js';
import {
  brokerOptions,
  brokerUrlWith,
  connectionGone,
  connectionPid,
  engineSuite,
  settleWithin,
} from './engine-helpers.js';

const suite = engineSuite();

/** A TCP server on a free local port that accepts connections and then does `onSocket` with them. */
async function localServer(onSocket: (s: Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onSocket(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A local port nothing listens on (bound then released). */
async function freePort(): Promise<number> {
  const s = await localServer(() => {});
  await s.close();
  return s.port;
}

describe('connect: URL and options', () => {
  it('connects with the broker URL (vhost %2F) and reports the broker and the default limits', async () => {
    const url = brokerUrl();
    expect(url).toContain('%2F');
    const conn = await suite.open(url);
    expect(conn.isOpen).toBe(true);
    expect(conn.state).toBe('open');
    expect(conn.serverProperties.product).toBe('RabbitMQ');
    expect(String(conn.serverProperties.version)).toMatch(/^\d+\.\d+\.\d+/);
    const caps = conn.serverProperties.capabilities as Record<string, unknown>;
    expect(caps.publisher_confirms).toBe(true);
    expect(caps.exchange_exchange_bindings).toBe(true);
    expect(conn.frameMax).toBe(131072);
    expect(conn.channelMax).toBe(2047);
    expect(conn.heartbeatSeconds).toBe(60);
    const ch = await conn.createChannel();
    const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
    expect(queue).toMatch(/^amq\.gen-/);
  });

  it('connects with an options object', async () => {
    const conn = await suite.open(brokerOptions({ vhost: '/' }));
    expect(conn.isOpen).toBe(true);
    const ch = await conn.createChannel();
    await expect(ch.queueDeclare({ queue: '', exclusive: true })).resolves.toMatchObject({ messageCount: 0 });
  });

  it('treats a URL without a path as vhost "/"', async () => {
    const u = new URL(brokerUrl());
    const conn = await suite.open(`amqp://${u.username}:${u.password}@${u.host}`);
    expect(conn.isOpen).toBe(true);
  });

  it('negotiates heartbeat, frame_max and channel_max from URL query parameters', async () => {
    const conn = await suite.open(brokerUrlWith('heartbeat=7&frame_max=16384&channel_max=100'));
    expect(conn.heartbeatSeconds).toBe(7);
    expect(conn.frameMax).toBe(16384);
    expect(conn.channelMax).toBe(100);
    const ch = await conn.createChannel();
    // A body of several frames at this frame size still round-trips.
    const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
    const body = Buffer.alloc(50_000, 7);
    await ch.confirmSelect();
    await ch.basicPublish({ routingKey: queue }, body);
    const got = await ch.basicGet({ queue, noAck: true });
    expect(got?.body.equals(body)).toBe(true);
  });

  it('takes the lower of the two proposals: the broker caps a larger frame_max and channel_max', async () => {
    const conn = await suite.open(brokerOptions({ frameMax: 1024 * 1024, channelMax: 65535, heartbeat: 120 }));
    expect(conn.frameMax).toBe(131072);
    expect(conn.channelMax).toBe(2047);
    expect(conn.heartbeatSeconds).toBe(60);
  });

  it('applies connection_timeout from the URL (a silent server times out after it)', async () => {
    const server = await localServer(() => {});
    try {
      const started = Date.now();
      const err = await connect(`amqp://guest:guest@127.0.0.1:${server.port}/%2F?connection_timeout=300`).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConnectionError);
      expect((err as ConnectionError).code).toBe('ERR_CONNECTION_TIMEOUT');
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await server.close();
    }
  });

  it('shows connectionName in rabbitmqctl list_connections client_properties', async () => {
    const name = uniqueName('connect.name');
    const conn = await suite.open(brokerOptions({ connectionName: name, clientProperties: { team: 'warren-tests' } }));
    expect(conn.isOpen).toBe(true);
    const out = await rabbitmqctl(
      'list_connections',
      '--quiet',
      '--no-table-headers',
      'pid',
      'name',
      'client_properties',
    );
    const line = out.split('\n').find((l) => l.includes(name));
    expect(line, `a connection named ${name} in:\n${out}`).toBeDefined();
    expect(line).toContain(`{"connection_name","${name}"}`);
    expect(line).toContain('{"product","warren"}');
    expect(line).toContain('{"team","warren-tests"}');
    expect(await connectionPid(name)).toMatch(/^<[\w.-]+@[^>]+>$/);
    await conn.close();
    // Gone from the broker once closed.
    expect(await connectionGone(name)).toBe(true);
  });

  it('connects to a vhost whose name needs percent-encoding (slash, space) from the URL and from options', async () => {
    const vhost = `${uniqueName('vh')}/a b`;
    await rabbitmqctl('add_vhost', vhost);
    suite.defer(() => rabbitmqctl('delete_vhost', vhost));
    await rabbitmqctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
    const u = new URL(brokerUrl());
    const fromUrl = await suite.open(`amqp://guest:guest@${u.host}/${encodeURIComponent(vhost)}`);
    const fromOptions = await suite.open(brokerOptions({ vhost }));
    // A queue declared through one is visible through the other: same vhost.
    const name = uniqueName('connect.vhost');
    const ch1 = await fromUrl.createChannel();
    await ch1.queueDeclare({ queue: name, durable: true });
    const ch2 = await fromOptions.createChannel();
    await expect(ch2.queueDeclare({ queue: name, passive: true })).resolves.toMatchObject({ queue: name });
    const listed = await rabbitmqctl('list_queues', '--quiet', '--no-table-headers', '-p', vhost, 'name');
    expect(listed).toContain(name);
  });

  it('updates the secret of an open connection (connection.update-secret) and stays usable', async () => {
    const conn = await suite.open();
    await conn.updateSecret('guest', 'rotation test');
    // One update at a time: a second one while the first is in flight is refused.
    const [first, second] = await Promise.allSettled([
      conn.updateSecret('guest', 'a'),
      conn.updateSecret('guest', 'b'),
    ]);
    expect(first.status).toBe('fulfilled');
    expect(second.status === 'rejected' && (second.reason as ConnectionError).code).toBe('ERR_BUSY');
    expect(conn.isOpen).toBe(true);
    const ch = await conn.createChannel();
    await expect(ch.queueDeclare({ queue: '', exclusive: true })).resolves.toBeDefined();
  });
});

describe('connect: failures', () => {
  it('rejects a wrong password with ConnectionError 403 ACCESS_REFUSED', async () => {
    const err = await connect(brokerOptions({ password: 'definitely-wrong' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    const e = err as ConnectionError;
    expect(e.replyCode).toBe(403);
    expect(e.code).toBe('ACCESS_REFUSED');
    expect(e.recoverable).toBe(false);
  });

  it('rejects an unknown user from the URL with ConnectionError 403 ACCESS_REFUSED', async () => {
    const u = new URL(brokerUrl());
    const err = await connect(`amqp://nobody-${Date.now()}:x@${u.host}/%2F`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).replyCode).toBe(403);
    expect((err as ConnectionError).code).toBe('ACCESS_REFUSED');
  });

  it('rejects a vhost that does not exist with ConnectionError 530 NOT_ALLOWED', async () => {
    const err = await connect(brokerOptions({ vhost: uniqueName('no-such-vhost') })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    const e = err as ConnectionError;
    expect(e.replyCode).toBe(530);
    expect(e.code).toBe('NOT_ALLOWED');
    expect(e.classId).toBe(10); // connection
    expect(e.methodId).toBe(40); // open
    expect(e.methodName).toBe('connection.open');
  });

  it('rejects an unreachable port quickly with a typed ConnectionError (ECONNREFUSED)', async () => {
    const port = await freePort();
    const started = Date.now();
    const err = await connect({ hostname: '127.0.0.1', port, connectionTimeout: 3000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).code).toBe('ECONNREFUSED');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('rejects within connectionTimeout when the server accepts but never answers (ERR_CONNECTION_TIMEOUT)', async () => {
    const server = await localServer(() => {});
    try {
      const started = Date.now();
      const outcome = await settleWithin(
        connect({ hostname: '127.0.0.1', port: server.port, connectionTimeout: 400 }),
        5000,
      );
      const elapsed = Date.now() - started;
      expect(outcome.status).toBe('rejected');
      if (outcome.status !== 'rejected') return;
      expect(outcome.reason).toBeInstanceOf(ConnectionError);
      expect((outcome.reason as ConnectionError).code).toBe('ERR_CONNECTION_TIMEOUT');
      expect(elapsed).toBeGreaterThanOrEqual(350);
      expect(elapsed).toBeLessThan(2000);
    } finally {
      await server.close();
    }
  });

  it('rejects with a ConnectionError when the server hangs up during the handshake', async () => {
    const server = await localServer((s) => s.destroy());
    try {
      const err = await connect({ hostname: '127.0.0.1', port: server.port, connectionTimeout: 3000 }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConnectionError);
      expect((err as ConnectionError).code).not.toBe('ERR_CONNECTION_TIMEOUT');
    } finally {
      await server.close();
    }
  });
  it('amqps:// to the plain AMQP port fails the TLS handshake with a typed ConnectionError', async () => {
    const u = new URL(brokerUrl());
    const started = Date.now();
    const err = await connect(`amqps://guest:guest@${u.hostname}:${u.port || 5672}/%2F?connection_timeout=3000`).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).code).toMatch(/^ERR_SSL_|^ECONNRESET$/);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe('connect: close', () => {
  it('closes cleanly: close event without error, state transitions, idempotent, no further channels', async () => {
    const conn = await suite.open();
    const states: Array<[LifecycleState, LifecycleState]> = [];
    conn.on('state', (to, from) => states.push([from, to]));
    const closes: unknown[] = [];
    conn.on('close', (err) => closes.push(err));
    const ch = await conn.createChannel();
    const channelCloses: unknown[] = [];
    ch.on('close', (err) => channelCloses.push(err));
    await conn.close();
    await conn.close();
    expect(conn.state).toBe('closed');
    expect(conn.isOpen).toBe(false);
    expect(states).toEqual([
      ['open', 'closing'],
      ['closing', 'closed'],
    ]);
    expect(closes).toEqual([undefined]);
    expect(ch.state).toBe('closed');
    expect(channelCloses).toHaveLength(1);
    expect(channelCloses[0]).toBeInstanceOf(ConnectionError);
    const err = await conn.createChannel().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).code).toBe('ERR_CONNECTION_CLOSED');
    await expect(ch.queueDeclare({ queue: '', exclusive: true })).rejects.toBeInstanceOf(ConnectionError);
  });
});
