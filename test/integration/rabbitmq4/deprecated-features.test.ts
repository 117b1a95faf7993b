/**
 * What RabbitMQ 4.3 refuses by default, on the RabbitMQ 4 test broker (scripts/broker4.sh denies it as
 * 4.3 does): a topology with a transient non-exclusive queue must fail connect() at once, naming the
 * queue and the deprecated feature, instead of retrying a connection the broker will close every time.
 */
import { describe, expect, it } from 'vitest';
import { configWarnings, validateConfig } from '../../../src/client/config.js';
import { ConnectionError, DeprecatedFeatureError, WarrenError } from '../../../src/protocol/errors.js';
import { uniqueName } from '../../helpers/broker.js';
import { sleep } from '../../helpers/wait.js';
import { clientSuite, rejectionOf } from '../client/client-helpers.js';

const suite = clientSuite();

describe('RabbitMQ 4: deprecated features denied as 4.3 denies them', () => {
  it('a config with a transient non-exclusive queue: connect() rejects at once, naming the queue and the feature', async () => {
    const good = uniqueName('rmq4.durable');
    const transient = uniqueName('rmq4.transient');
    suite.deleteQueuesAfter(good, transient);
    const config = { queues: [{ name: good }, { name: transient, durable: false }] };
    // validateConfig accepts it (3.x and 4.0 with the default permits still take it) but warns.
    expect(configWarnings(validateConfig(config)).map((w) => w.path)).toEqual(['queues[1].durable']);

    const mq = suite.client(config, { connectRetry: { attempts: Number.POSITIVE_INFINITY, baseDelayMs: 50 } });
    const retries: unknown[] = [];
    mq.on('error', (e) => retries.push(e));
    const t0 = Date.now();
    const outcome = await Promise.race([rejectionOf(mq.connect()), sleep(5000).then(() => 'still retrying')]);
    expect(outcome).toBeInstanceOf(DeprecatedFeatureError);
    const err = outcome as DeprecatedFeatureError;
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).toBeInstanceOf(WarrenError);
    expect(err.code).toBe('ERR_DEPRECATED_FEATURE');
    expect(err.replyCode).toBe(541);
    expect(err.feature).toBe('transient_nonexcl_queues');
    expect(err.recoverable).toBe(false);
    expect(err.message).toContain('queues[1]');
    expect(err.message).toContain(JSON.stringify(transient));
    expect(err.message).toContain('transient_nonexcl_queues');
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(mq.state).toBe('idle');
    expect(mq.isConnected).toBe(false);
    expect(retries).toEqual([]);
  });

  it('the same queue made durable (or exclusive) is declared and usable', async () => {
    const durable = uniqueName('rmq4.ok-durable');
    suite.deleteQueuesAfter(durable);
    const mq = suite.client({
      queues: [{ name: durable }, { name: uniqueName('rmq4.ok-excl'), durable: false, exclusive: true }],
    });
    await mq.connect();
    expect(mq.state).toBe('ready');
    await mq.publishMessage(durable, 'kept');
    const ch = await mq.getChannel();
    const got = await ch.basicGet({ queue: durable, noAck: true });
    expect(got?.body.toString()).toBe('kept');
  });
});
