/**
 * RabbitMQ ≤ 4.2 ends a consumer whose delivery stayed unacked past its consumer timeout by closing the
 * channel: 406 "delivery acknowledgement on channel N timed out". The real 4.0 broker shows it too
 * (test/integration/rabbitmq4/consumer-timeout.test.ts); this fake-broker test pins the client's side on
 * any broker: the consumer reopens a channel, subscribes again, and reports the interruption once.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AsyncRabbitMQ } from '../../src/client/async-rabbitmq.js';
import type { ConsumerInterruptedError } from '../../src/client/consumer.js';
import { trackUnhandledRejections } from '../helpers/guards.js';
import { expectNoOpenHandles, handleSnapshot } from '../helpers/handles.js';
import { waitFor } from '../helpers/wait.js';
import { SessionBroker } from './session-broker.js';

trackUnhandledRejections();

let broker: SessionBroker;
let mq: AsyncRabbitMQ | undefined;
let baseline: Record<string, number> = {};

beforeEach(async () => {
  baseline = handleSnapshot();
  broker = await SessionBroker.start();
});

afterEach(async () => {
  await mq?.disconnect().catch(() => {});
  mq = undefined;
  await broker.close();
  await expectNoOpenHandles(baseline, 2000);
});

describe('consumer timeout: the channel closed with 406', () => {
  it('reopens the channel, subscribes again and reports it (consumer event and client error)', async () => {
    mq = new AsyncRabbitMQ({}, { urls: broker.url(), heartbeat: 0, connectionTimeout: 2000 });
    const clientErrors: unknown[] = [];
    mq.on('error', (e) => clientErrors.push(e));
    await mq.connect();
    const consumer = await mq.consume('q-timeout', async () => {}, { prefetch: 1 });
    const interruptions: ConsumerInterruptedError[] = [];
    consumer.on('interrupted', (e) => interruptions.push(e));
    const peer = broker.open[0]!;
    const [tag, sub] = [...peer.consumers.entries()][0]!;
    expect(consumer.consumerTag).toBe(tag);
    peer.consumers.delete(tag);
    peer.send(sub.channel, 'channel.close', {
      replyCode: 406,
      replyText: `PRECONDITION_FAILED - delivery acknowledgement on channel ${sub.channel} timed out. Timeout value used: 1800000 ms. This timeout value can be configured, see consumers doc guide to learn more`,
      classId: 0,
      methodId: 0,
    });
    await waitFor(() => consumer.state === 'active' && consumer.consumerTag !== tag, 'the resubscription');
    expect(broker.liveConsumers).toBe(1);
    expect(interruptions).toHaveLength(1);
    expect(interruptions[0]).toMatchObject({
      code: 'ERR_CONSUMER_INTERRUPTED',
      reason: 'consumer-timeout',
      replyCode: 406,
      recoverable: true,
    });
    expect(clientErrors).toEqual(interruptions);
    expect(mq.isReady).toBe(true);
  });
});
