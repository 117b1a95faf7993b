/**
 * The queue arguments of quorum queues and RabbitMQ 4 (typed in QueueArguments), their values and the
 * queue types that take them; and configWarnings, which flags what RabbitMQ 4.3 refuses.
 */
import { describe, expect, it } from 'vitest';
import { AsyncRabbitMQ } from '../../../src/client/async-rabbitmq.js';
import {
  ConfigValidationError,
  configWarnings,
  defineConfig,
  formatIssue,
  type QueueArguments,
  validateConfig,
} from '../../../src/client/config.js';

/** The `<path> <rule>` lines validateConfig throws for `input` (fails the test when it does not throw). */
function problems(input: unknown): string[] {
  try {
    validateConfig(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigValidationError);
    return (err as ConfigValidationError).issues.map(formatIssue);
  }
  throw new Error('expected validateConfig to throw');
}

/** A config whose second queue (index 1) has these arguments; the first is a plain durable queue. */
const second = (args: Record<string, unknown>, flags: Record<string, unknown> = {}) => ({
  queues: [{ name: 'first' }, { name: 'second', ...flags, arguments: args }],
});
const quorum = (args: Record<string, unknown>) => second({ 'x-queue-type': 'quorum', ...args });
const valid = (input: unknown) => expect(validateConfig(input).queues).toHaveLength(2);

describe('quorum queue arguments', () => {
  it('x-delivery-limit: a non-negative integer, or -1 (no limit, RabbitMQ 4)', () => {
    for (const ok of [0, 1, 20, 5n, -1, -1n]) valid(quorum({ 'x-delivery-limit': ok }));
    for (const bad of [-2, 1.5, '20', true, -2n]) {
      expect(problems(quorum({ 'x-delivery-limit': bad }))).toEqual([
        'queues[1].arguments["x-delivery-limit"] must be a non-negative integer, or -1 for no limit (RabbitMQ 4)',
      ]);
    }
  });

  it('x-dead-letter-strategy: at-most-once or at-least-once, the latter only with x-overflow reject-publish', () => {
    valid(quorum({ 'x-dead-letter-strategy': 'at-most-once' }));
    valid(quorum({ 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' }));
    expect(problems(quorum({ 'x-dead-letter-strategy': 'exactly-once' }))).toEqual([
      'queues[1].arguments["x-dead-letter-strategy"] must be one of at-most-once, at-least-once',
    ]);
    expect(problems(quorum({ 'x-dead-letter-strategy': 'at-least-once' }))).toEqual([
      'queues[1].arguments["x-dead-letter-strategy"] at-least-once requires x-overflow: reject-publish',
    ]);
    expect(problems(quorum({ 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'drop-head' }))).toEqual([
      'queues[1].arguments["x-dead-letter-strategy"] at-least-once requires x-overflow: reject-publish',
    ]);
  });

  it('x-dead-letter-strategy and x-delivery-limit are refused on classic queues and streams', () => {
    const rule = 'is only supported by quorum queues (set x-queue-type to quorum)';
    expect(problems(second({ 'x-dead-letter-strategy': 'at-most-once' }))).toEqual([
      `queues[1].arguments["x-dead-letter-strategy"] ${rule}`,
    ]);
    expect(
      problems(second({ 'x-queue-type': 'stream', 'x-delivery-limit': 3, 'x-dead-letter-strategy': 'at-most-once' })),
    ).toEqual([
      `queues[1].arguments["x-delivery-limit"] ${rule}`,
      `queues[1].arguments["x-dead-letter-strategy"] ${rule}`,
    ]);
  });

  it('x-queue-leader-locator: client-local or balanced, on any queue type', () => {
    for (const type of ['quorum', 'stream', 'classic']) {
      for (const locator of ['client-local', 'balanced']) {
        valid(second({ 'x-queue-type': type, 'x-queue-leader-locator': locator }));
      }
    }
    // 3.x's classic-queue values (x-queue-master-locator) are not leader locators.
    for (const bad of ['min-masters', 'random', 1]) {
      expect(problems(quorum({ 'x-queue-leader-locator': bad }))).toEqual([
        'queues[1].arguments["x-queue-leader-locator"] must be one of client-local, balanced',
      ]);
    }
  });

  it('x-consumer-timeout: a positive integer of milliseconds', () => {
    for (const ok of [1, 30_000, 1800000n]) {
      valid(quorum({ 'x-consumer-timeout': ok }));
      valid(second({ 'x-consumer-timeout': ok }));
    }
    for (const bad of [0, -1, 1.5, '30000', 0n]) {
      expect(problems(quorum({ 'x-consumer-timeout': bad }))).toEqual([
        'queues[1].arguments["x-consumer-timeout"] must be a positive integer (milliseconds, at least 1)',
      ]);
    }
  });
});

describe('x-max-length and x-overflow by queue type', () => {
  it('classic queues take every overflow mode', () => {
    for (const mode of ['drop-head', 'reject-publish', 'reject-publish-dlx']) {
      valid(second({ 'x-max-length': 10, 'x-overflow': mode }));
    }
  });

  it('quorum queues take drop-head and reject-publish, not reject-publish-dlx', () => {
    valid(quorum({ 'x-max-length': 10, 'x-overflow': 'drop-head' }));
    valid(quorum({ 'x-max-length': 10, 'x-overflow': 'reject-publish' }));
    expect(problems(quorum({ 'x-max-length': 10, 'x-overflow': 'reject-publish-dlx' }))).toEqual([
      'queues[1].arguments["x-overflow"] reject-publish-dlx is not supported by quorum queues',
    ]);
  });

  it('streams take neither x-max-length nor x-overflow (they are bounded by bytes and age)', () => {
    valid(second({ 'x-queue-type': 'stream', 'x-max-length-bytes': 1_000_000 }));
    expect(problems(second({ 'x-queue-type': 'stream', 'x-max-length': 10, 'x-overflow': 'drop-head' }))).toEqual([
      'queues[1].arguments["x-max-length"] is not supported by streams (use x-max-length-bytes or x-max-age)',
      'queues[1].arguments["x-overflow"] is not supported by streams',
    ]);
  });

  it('an unknown overflow mode is refused on every type', () => {
    expect(problems(second({ 'x-overflow': 'drop-tail' }))).toEqual([
      'queues[1].arguments["x-overflow"] must be one of drop-head, reject-publish, reject-publish-dlx',
    ]);
  });
});

describe('QueueArguments typing', () => {
  it('types the known arguments and lets others through', () => {
    const args: QueueArguments = {
      'x-queue-type': 'quorum',
      'x-delivery-limit': -1,
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
      'x-queue-leader-locator': 'balanced',
      'x-consumer-timeout': 60_000,
      'x-quorum-initial-group-size': 3,
    };
    // @ts-expect-error not a dead-letter strategy
    const wrong: QueueArguments = { 'x-dead-letter-strategy': 'exactly-once' };
    expect(problems({ queues: [{ name: 'w', arguments: wrong }] })).toHaveLength(2);
    const config = defineConfig({ queues: [{ name: 'jobs', arguments: args }] });
    expect(validateConfig(config).queues[0]?.arguments).toEqual(args);
  });
});

describe('configWarnings', () => {
  it('names each transient non-exclusive queue (RabbitMQ 4.3 refuses them); durable or exclusive ones pass', () => {
    const resolved = validateConfig({
      queues: [
        { name: 'kept' },
        { name: 'temp', durable: false },
        { name: 'mine', durable: false, exclusive: true },
        // A server-named queue is exclusive unless told otherwise.
        { name: '', durable: false },
        { name: '', exclusive: false, durable: false },
      ],
    });
    const rule =
      'which is not exclusive: RabbitMQ 4.3 refuses transient non-exclusive queues (make it durable, or exclusive)';
    expect(configWarnings(resolved).map(formatIssue)).toEqual([
      `queues[1].durable is false for queue "temp", ${rule}`,
      `queues[4].durable is false for a server-named queue, ${rule}`,
    ]);
  });

  it('is empty for a config of durable queues', () => {
    expect(configWarnings(validateConfig({ queues: [{ name: 'a' }, { name: 'b', autoDelete: true }] }))).toEqual([]);
  });
});

describe("configWarnings: quorum queues and RabbitMQ 4's delivery limit of 20", () => {
  it('names a quorum queue with neither x-delivery-limit nor a dead-letter exchange', () => {
    const resolved = validateConfig({
      queues: [
        { name: 'bare', arguments: { 'x-queue-type': 'quorum' } },
        { name: 'limited', arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 5 } },
        { name: 'unlimited', arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': -1 } },
        { name: 'dlx', arguments: { 'x-queue-type': 'quorum', 'x-dead-letter-exchange': 'amq.fanout' } },
        { name: 'classic' },
      ],
    });
    expect(configWarnings(resolved).map(formatIssue)).toEqual([
      'queues[0].arguments of quorum queue "bare" set neither x-delivery-limit nor x-dead-letter-exchange: RabbitMQ 4 drops a message after its 20th requeue (set x-delivery-limit, -1 for no limit, or a dead-letter exchange)',
    ]);
  });
});

describe('AsyncRabbitMQ logs the config warnings when it is built', () => {
  it('warns once per transient non-exclusive queue, naming it, before any connect', () => {
    const warned: string[] = [];
    const logger = { debug() {}, info() {}, warn: (_: unknown, msg: string) => void warned.push(msg), error() {} };
    new AsyncRabbitMQ({ queues: [{ name: 'kept' }, { name: 'temp', durable: false }] }, { logger });
    expect(warned).toHaveLength(1);
    expect(warned[0]).toContain('queues[1].durable is false for queue "temp"');
    expect(warned[0]).toContain('RabbitMQ 4.3 refuses transient non-exclusive queues');
  });
});
