import { afterAll, describe, expect, it } from 'vitest';
import { WarrenError } from '../../../src/protocol/errors.js';
import { SyncRabbitMQ } from '../../../src/sync/sync-rabbitmq.js';
import { brokerUrl, uniqueName } from '../../helpers/broker.js';
import { trackUnhandledRejections } from '../../helpers/guards.js';
import { sleep } from '../../helpers/wait.js';

/**
 * A SyncRabbitMQ whose worker thread ends (exits, crashes, is terminated) must fail the call blocked on it
 * at once with ERR_SYNC_WORKER_EXIT, and every later call too, and never let the Worker's 'error' event
 * go uncaught (vitest fails the run on an uncaught error; each test waits for the events to arrive).
 */

trackUnhandledRejections();
// The worker's test hooks (__crashForTest, __hangForTest); workers copy the environment when created.
process.env.WARREN_SYNC_TEST_HOOKS = '1';

/** Far longer than any test may take: a call that waits for it has missed the worker's end. */
const CALL_TIMEOUT_MS = 20_000;
const opened: SyncRabbitMQ[] = [];
function client(): SyncRabbitMQ {
  const mq = new SyncRabbitMQ({}, { urls: brokerUrl(), callTimeoutMs: CALL_TIMEOUT_MS });
  opened.push(mq);
  return mq;
}

afterAll(() => {
  for (const mq of opened) mq.close();
});

/** Runs a blocking call that must fail because the worker ended; returns the error and how long it took. */
function failing(fn: () => unknown): { error: WarrenError; ms: number } {
  const started = Date.now();
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WarrenError);
    return { error: err as WarrenError, ms: Date.now() - started };
  }
  throw new Error('expected the call to throw');
}

/** Every call after the worker's end throws the same code; disconnect and close stay quiet. */
function expectDeadForGood(mq: SyncRabbitMQ, message: RegExp): void {
  for (const call of [
    () => mq.connect(),
    () => mq.publishMessage('q', 'x'),
    () => mq.getChannel(),
    () => mq.isConnected,
  ]) {
    const { error } = failing(call);
    expect(error.code).toBe('ERR_SYNC_WORKER_EXIT');
    expect(error.message).toMatch(message);
  }
  expect(() => mq.disconnect()).not.toThrow();
  expect(() => mq.close()).not.toThrow();
}

describe('SyncRabbitMQ when its worker ends', () => {
  it('process.exit(3) in the worker during a blocked call: the call throws at once, naming the code', async () => {
    const mq = client();
    mq.connect();
    mq.call('__crashForTest', 'exit', 100, 3);
    const { error, ms } = failing(() => mq.callWithin(CALL_TIMEOUT_MS, '__hangForTest'));
    expect(error.code).toBe('ERR_SYNC_WORKER_EXIT');
    expect(error.message).toMatch(/exit code 3/);
    expect(error.recoverable).toBe(false);
    expect(ms).toBeLessThan(CALL_TIMEOUT_MS / 2);
    expectDeadForGood(mq, /exit code 3/);
    await sleep(200); // the Worker's own 'exit' event arrives now: nothing may go uncaught
  });

  it('an uncaught exception in the worker while a consumer pull blocks: throws at once, naming the error', async () => {
    const queue = uniqueName('sync-crash');
    const mq = client();
    mq.connect();
    const ch = mq.getChannel();
    ch.queueDeclare({ queue, exclusive: true });
    const { consumerTag } = ch.basicConsume({ queue });
    mq.call('__crashForTest', 'throw', 100);
    const { error, ms } = failing(() => ch.nextDelivery(consumerTag));
    expect(error.code).toBe('ERR_SYNC_WORKER_EXIT');
    expect(error.message).toMatch(/exit code 1/);
    expect(error.message).toMatch(/worker crash requested by a test/);
    expect(ms).toBeLessThan(CALL_TIMEOUT_MS / 2);
    expectDeadForGood(mq, /exit code 1/);
    await sleep(200); // the Worker's 'error' event arrives now: it must be handled
  });

  it('an unhandled rejection in the worker: the blocked call throws at once', async () => {
    const mq = client();
    mq.call('__crashForTest', 'reject', 100);
    const { error, ms } = failing(() => mq.callWithin(CALL_TIMEOUT_MS, '__hangForTest'));
    expect(error.code).toBe('ERR_SYNC_WORKER_EXIT');
    expect(error.message).toMatch(/worker crash requested by a test/);
    expect(ms).toBeLessThan(CALL_TIMEOUT_MS / 2);
    expectDeadForGood(mq, /exit code 1/);
    await sleep(200);
  });

  it('the worker thread terminated from outside between calls (no code of its own ran): the next call throws', async () => {
    const mq = client();
    mq.connect();
    void (mq as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    await sleep(300); // the event loop runs: the Worker's 'exit' event is delivered
    const { error, ms } = failing(() => mq.publishMessage(uniqueName('never'), 'x'));
    expect(error.code).toBe('ERR_SYNC_WORKER_EXIT');
    expect(error.message).toMatch(/exit code 1/);
    expect(ms).toBeLessThan(CALL_TIMEOUT_MS / 2);
    expectDeadForGood(mq, /exit code 1/);
  });

  it('a worker that ended between calls (its exit event seen): the next call throws without waiting', async () => {
    const mq = client();
    mq.call('__crashForTest', 'exit', 10, 5);
    await sleep(300); // the event loop runs: the Worker's 'exit' event is delivered
    const { error, ms } = failing(() => mq.connect());
    expect(error.code).toBe('ERR_SYNC_WORKER_EXIT');
    expect(error.message).toMatch(/exit code 5/);
    expect(ms).toBeLessThan(CALL_TIMEOUT_MS / 2);
  });
});
