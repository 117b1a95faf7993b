import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigValidationError } from '../../../src/client/config.js';
import { ClientClosedError, UnroutableError } from '../../../src/client/errors.js';
import { ConnectionError, WarrenError } from '../../../src/protocol/errors.js';
import { Decimal } from '../../../src/protocol/field-table.js';
import { SyncRabbitMQ } from '../../../src/sync/sync-rabbitmq.js';
import { brokerUrl, uniqueName } from '../../helpers/broker.js';

const opened: SyncRabbitMQ[] = [];
function client(...args: ConstructorParameters<typeof SyncRabbitMQ>): SyncRabbitMQ {
  const mq = new SyncRabbitMQ(...args);
  opened.push(mq);
  return mq;
}

afterAll(() => {
  for (const mq of opened) mq.close();
});

describe('SyncRabbitMQ', () => {
  it('connects, publishes with confirms and reads back through a blocking channel', () => {
    const queue = uniqueName('sync');
    const mq = client({ queues: [{ name: queue, exclusive: true }] }, { urls: brokerUrl() });
    expect(mq.isConnected).toBe(false);
    mq.connect();
    expect(mq.isConnected).toBe(true);
    expect(mq.isReady).toBe(true);
    expect(mq.state).toBe('ready');

    mq.publishMessage(
      queue,
      { n: 1 },
      {
        headers: {
          price: new Decimal(2, 1999),
          big: 2n ** 40n,
          raw: Buffer.from([1, 2]),
          // A user table shaped like the thread marshalling's tag: it must stay a table both ways.
          forged: { __warren_value: 'Decimal', scale: 2, value: 5 },
        },
      },
    );
    mq.publishMessage(queue, 'two');
    const ch = mq.getChannel();
    expect(ch.queueDeclare({ queue, passive: true }).messageCount).toBe(2);

    const first = ch.basicGet({ queue });
    expect(first).not.toBeNull();
    expect(Buffer.isBuffer(first!.body)).toBe(true);
    expect(JSON.parse(first!.body.toString())).toEqual({ n: 1 });
    expect(first!.properties.contentType).toBe('application/json');
    const headers = first!.properties.headers!;
    expect(headers.price).toBeInstanceOf(Decimal);
    expect(headers.price).toEqual(new Decimal(2, 1999));
    expect(headers.big).toBe(2n ** 40n);
    expect(Buffer.isBuffer(headers.raw)).toBe(true);
    expect(headers.forged).not.toBeInstanceOf(Decimal);
    expect(headers.forged).toEqual({ __warren_value: 'Decimal', scale: 2, value: 5 });
    expect(ch.basicAck(first!.deliveryTag)).toBe(true);

    const second = ch.basicGet({ queue, noAck: true });
    expect(second!.body.toString()).toBe('two');
    expect(ch.basicGet({ queue })).toBeNull();
    ch.queueDelete({ queue });
    mq.disconnect();
    expect(mq.isConnected).toBe(false);
  });

  it('throws the same error classes as the async client', () => {
    const mq = client({}, { urls: brokerUrl() });
    mq.connect();
    const err = (() => {
      try {
        mq.publishMessage(uniqueName('nowhere'), 'x');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(UnroutableError);
    expect((err as UnroutableError).code).toBe('ERR_UNROUTABLE');
    expect((err as UnroutableError).exchange).toBe('');

    const ch = mq.getChannel();
    try {
      ch.queueDeclare({ queue: uniqueName('missing'), passive: true });
      expect.unreachable('passive declare of a missing queue must throw');
    } catch (e) {
      expect((e as { replyCode?: number }).replyCode).toBe(404);
      expect((e as { methodName?: string }).methodName).toBe('queue.declare');
    }
    mq.disconnect();
    expect(() => mq.publishMessage('q', 'x')).toThrow(ClientClosedError);
    expect(() => mq.disconnect()).not.toThrow();
  });

  it('reports an invalid config from the constructor, naming the path', () => {
    expect(() => client({ queues: [{ name: 'q', durable: 'yes' as never }] })).toThrow(ConfigValidationError);
    expect(() => client({ queues: [{ name: 'q', durable: 'yes' as never }] })).toThrow(
      /queues\[0\]\.durable must be a boolean/,
    );
  });

  it('consumes through a blocking loop: every message in order, acked, then the loop ends when idle', () => {
    const queue = uniqueName('sync-consume');
    const mq = client({ queues: [{ name: queue, exclusive: true }] }, { urls: brokerUrl() });
    mq.connect();
    for (let i = 0; i < 5; i++) mq.publishMessage(queue, `m${i}`);
    const ch = mq.getChannel();
    const seen: string[] = [];
    const started = Date.now();
    for (const d of ch.consume({ queue }, { inactivityTimeoutMs: 300 })) {
      seen.push(d.body.toString());
      expect(Buffer.isBuffer(d.body)).toBe(true);
      expect(d.properties.contentType).toBe('text/plain');
      expect(ch.basicAck(d.deliveryTag)).toBe(true);
    }
    expect(seen).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300); // it waited out the idle time once
    // All acked, and the loop's consumer is gone.
    expect(ch.queueDeclare({ queue, passive: true })).toMatchObject({ messageCount: 0, consumerCount: 0 });
    ch.queueDelete({ queue });
    mq.disconnect();
  });

  it('nextDelivery returns null on timeout; cancelling gives back what the consumer held unpulled', () => {
    const queue = uniqueName('sync-pull');
    const mq = client({ queues: [{ name: queue, exclusive: true }] }, { urls: brokerUrl() });
    mq.connect();
    const ch = mq.getChannel();
    ch.basicQos({ prefetchCount: 3 });
    const { consumerTag } = ch.basicConsume({ queue });
    expect(ch.nextDelivery(consumerTag, { timeoutMs: 50 })).toBeNull();
    for (let i = 0; i < 4; i++) mq.publishMessage(queue, `p${i}`);
    const first = ch.nextDelivery(consumerTag, { timeoutMs: 5000 });
    expect(first!.body.toString()).toBe('p0');
    ch.basicAck(first!.deliveryTag);
    // Up to 3 more were pushed to the worker; none was pulled: cancel hands them back.
    ch.basicCancel(consumerTag);
    const left: string[] = [];
    for (let m = ch.basicGet({ queue, noAck: true }); m; m = ch.basicGet({ queue, noAck: true })) {
      left.push(m.body.toString());
    }
    expect(left.sort()).toEqual(['p1', 'p2', 'p3']);
    expect(() => ch.nextDelivery(consumerTag, { timeoutMs: 10 })).toThrow(/no consumer/);
    expect(() => ch.basicConsume({ queue, noAck: true } as never)).toThrow(/needs acknowledgements/);
    ch.queueDelete({ queue });
    mq.disconnect();
  });

  it('a consumer cancelled by the broker (queue deleted) ends the loop with ERR_CONSUMER_CANCELLED', () => {
    const queue = uniqueName('sync-cancelled');
    const mq = client({ queues: [{ name: queue, exclusive: true }] }, { urls: brokerUrl() });
    mq.connect();
    mq.publishMessage(queue, 'only');
    const ch = mq.getChannel();
    let caught: unknown;
    const seen: string[] = [];
    try {
      for (const d of ch.consume({ queue }, { inactivityTimeoutMs: 5000 })) {
        seen.push(d.body.toString());
        ch.basicAck(d.deliveryTag);
        ch.queueDelete({ queue }); // the broker cancels our consumer
      }
    } catch (err) {
      caught = err;
    }
    expect(seen).toEqual(['only']);
    expect(caught).toBeInstanceOf(WarrenError);
    expect((caught as WarrenError).code).toBe('ERR_CONSUMER_CANCELLED');
    mq.disconnect();
  });

  it('fails fast on a wrong password without leaking it, and forwards log lines', () => {
    const lines: unknown[][] = [];
    const logger = {
      debug: () => {},
      info: (...a: unknown[]) => lines.push(a),
      warn: (...a: unknown[]) => lines.push(a),
      error: (...a: unknown[]) => lines.push(a),
    };
    const url = brokerUrl().replace('guest:guest@', 'guest:hunter2-wrong@');
    const mq = client({}, { urls: url, logger, connectRetry: { attempts: 2, baseDelayMs: 10 } });
    const started = Date.now();
    let caught: unknown;
    try {
      mq.connect();
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ConnectionError);
    expect((caught as ConnectionError).replyCode).toBe(403);
    expect(String((caught as Error).message)).not.toContain('hunter2');
    expect(Date.now() - started).toBeLessThan(10_000);
    mq.close();

    const ok = client({}, { urls: brokerUrl(), logger });
    ok.connect();
    ok.disconnect();
    const logged = JSON.stringify(lines, (_k, v) => (typeof v === 'bigint' ? String(v) : v));
    expect(logged).toContain('warren: connected to amqp://guest:***@');
    expect(logged).not.toContain('hunter2');
  });

  it('util.inspect shows the state, never the password of its URLs', () => {
    const url = brokerUrl().replace('guest:guest@', 'guest:hunter2-inspect@');
    const mq = client({}, { urls: [url, brokerUrl()], connectRetry: { attempts: 1, baseDelayMs: 10 } });
    const shown = () => [inspect(mq), inspect(mq, { depth: Infinity, showHidden: true }), String(mq)];
    for (const text of shown()) expect(text).not.toContain('hunter2');
    expect(inspect(mq)).toBe('SyncRabbitMQ { worker: running, callTimeoutMs: 120000 }');
    try {
      mq.connect();
    } catch {
      // Whether the wrong password's URL or the next one answered, nothing may show it.
    }
    for (const text of shown()) expect(text).not.toContain('hunter2');
    mq.close();
    expect(inspect(mq)).toBe('SyncRabbitMQ { worker: closed, callTimeoutMs: 120000 }');
  });
});

describe('SyncRabbitMQ worker between calls', () => {
  /** Blocks this thread as a busy synchronous program would (no event loop runs here meanwhile). */
  const blockFor = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

  it('keeps its connection (heartbeats every 1 s) through back-to-back calls and through a caller idle for 3.5 s', () => {
    const queue = uniqueName('sync-hot');
    const lost: string[] = [];
    const ignore = () => {};
    const logger = {
      debug: ignore,
      info: ignore,
      error: ignore,
      warn: (...args: unknown[]) => {
        const text = args.map(String).join(' ');
        if (text.includes('connection lost')) lost.push(text);
      },
    };
    // Exclusive: the queue, and what it holds, would be gone with the connection.
    const mq = client({ queues: [{ name: queue, exclusive: true }] }, { urls: brokerUrl(), heartbeat: 1, logger });
    mq.connect();
    let published = 0;
    const until = Date.now() + 3500;
    while (Date.now() < until) {
      mq.publishMessage(queue, 'x', { persistent: false });
      published++;
    }
    blockFor(3500);
    mq.publishMessage(queue, 'last', { persistent: false });
    published++;
    const ch = mq.getChannel();
    expect(ch.queueDeclare({ queue, passive: true }).messageCount).toBe(published);
    expect(lost).toEqual([]);
    expect(mq.state).toBe('ready');
    mq.disconnect();
  }, 20_000);
});
