import { describe, expect, it } from 'vitest';
import {
  ConfigValidationError,
  defineConfig,
  ExchangeType,
  type ResolvedConfig,
  validateArguments,
  validateConfig,
} from '../../../src/client/config.js';
import { WarrenError } from '../../../src/protocol/errors.js';

/** Runs validateConfig, expects it to throw ConfigValidationError, and returns the `<path> <rule>` lines. */
function problems(input: unknown): string[] {
  try {
    validateConfig(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigValidationError);
    return (err as ConfigValidationError).issues.map((i) => `${i.path} ${i.message}`);
  }
  throw new Error('expected validateConfig to throw');
}

/** Expects exactly one issue, with this line. */
function expectOnly(input: unknown, line: string): void {
  expect(problems(input)).toEqual([line]);
}

const queue = (extra: Record<string, unknown>) => ({ queues: [{ name: 'q', ...extra }] });
const args = (a: Record<string, unknown>) => queue({ arguments: a });

describe('validateConfig: defaults', () => {
  it('fills every default of an empty config', () => {
    expect(validateConfig({})).toEqual({ vhost: '/', exchanges: [], queues: [], bindings: [] });
  });

  it('fills exchange, queue and binding defaults', () => {
    const resolved = validateConfig({
      vhost: 'app',
      exchanges: [{ name: 'events', type: ExchangeType.TOPIC }],
      queues: [{ name: 'audit', exchange: 'events' }, { name: 'plain' }],
      bindings: [{ source: 'events', destination: 'elsewhere' }],
    });
    expect(resolved).toEqual<ResolvedConfig>({
      vhost: 'app',
      exchanges: [{ name: 'events', type: 'topic', durable: true, autoDelete: false, internal: false, arguments: {} }],
      queues: [
        {
          name: 'audit',
          durable: true,
          autoDelete: false,
          exclusive: false,
          arguments: {},
          exchange: 'events',
          routingKey: 'audit',
        },
        {
          name: 'plain',
          durable: true,
          autoDelete: false,
          exclusive: false,
          arguments: {},
          exchange: undefined,
          routingKey: undefined,
        },
      ],
      bindings: [
        { source: 'events', destination: 'elsewhere', destinationType: 'queue', routingKey: '', arguments: {} },
      ],
    });
  });

  it('keeps explicit values', () => {
    const resolved = validateConfig({
      exchanges: [
        { name: 'e', type: 'x-delayed-message', durable: false, autoDelete: true, internal: true, arguments: { a: 1 } },
      ],
      queues: [
        {
          name: 'q',
          durable: false,
          autoDelete: true,
          exclusive: true,
          exchange: 'e',
          routingKey: 'k.#',
          arguments: { 'x-max-priority': 10 },
        },
      ],
      bindings: [{ source: 'e', destination: 'amq.topic', destinationType: 'exchange', routingKey: 'r' }],
    });
    expect(resolved.exchanges[0]).toEqual({
      name: 'e',
      type: 'x-delayed-message',
      durable: false,
      autoDelete: true,
      internal: true,
      arguments: { a: 1 },
    });
    expect(resolved.queues[0]).toMatchObject({ durable: false, autoDelete: true, exclusive: true, routingKey: 'k.#' });
    expect(resolved.bindings[0]).toMatchObject({ destinationType: 'exchange', routingKey: 'r' });
  });

  it('hoists an inline queue exchange into exchanges, once, after the declared ones', () => {
    const resolved = validateConfig({
      exchanges: [{ name: 'first', type: 'direct' }],
      queues: [
        { name: 'a', exchange: { name: 'inline', type: 'fanout' } },
        { name: 'b', exchange: { name: 'inline', type: 'fanout', durable: true } },
        { name: 'c', exchange: { name: 'first', type: 'direct' } },
      ],
    });
    expect(resolved.exchanges.map((e) => e.name)).toEqual(['first', 'inline']);
    expect(resolved.exchanges[1]).toMatchObject({ type: 'fanout', durable: true });
    expect(resolved.queues.map((q) => q.exchange)).toEqual(['inline', 'inline', 'first']);
  });

  it('lets a queue refer by name to an exchange defined inline by a later queue', () => {
    const resolved = validateConfig({
      queues: [
        { name: 'a', exchange: 'late' },
        { name: 'b', exchange: { name: 'late', type: 'topic' } },
      ],
    });
    expect(resolved.exchanges.map((e) => e.name)).toEqual(['late']);
  });

  it('leaves the routing key of a server-named queue to the broker-assigned name', () => {
    const resolved = validateConfig({ queues: [{ name: '', exchange: 'amq.fanout' }, { name: '' }] });
    expect(resolved.queues[0]).toMatchObject({ name: '', exchange: 'amq.fanout', routingKey: undefined });
    expect(resolved.queues).toHaveLength(2);
  });

  it('accepts built-in amq.* exchanges without declaring them and valid known arguments', () => {
    const resolved = validateConfig({
      queues: [
        {
          name: 'q',
          exchange: 'amq.topic',
          arguments: {
            'x-queue-type': 'quorum',
            'x-delivery-limit': 5,
            'x-message-ttl': 0,
            'x-expires': 1,
            'x-max-length': 10n,
            'x-overflow': 'reject-publish',
            'x-dead-letter-exchange': 'dlx',
            'x-dead-letter-routing-key': 'dead',
            'x-single-active-consumer': true,
            'x-custom-plugin-arg': { anything: true },
          },
        },
      ],
      bindings: [{ source: 'amq.direct', destination: 'q' }],
    });
    expect(resolved.queues[0]?.arguments['x-max-length']).toBe(10n);
  });

  it('copies arguments so later changes to the input do not leak into the result', () => {
    const input = { queues: [{ name: 'q', arguments: { 'x-message-ttl': 5 } as Record<string, unknown> }] };
    const resolved = validateConfig(input);
    input.queues[0]!.arguments['x-message-ttl'] = 6;
    expect(resolved.queues[0]?.arguments['x-message-ttl']).toBe(5);
  });

  it('defineConfig returns its argument', () => {
    const c = { queues: [{ name: 'q' }] };
    expect(defineConfig(c)).toBe(c);
  });
});

describe('validateConfig: rules', () => {
  it('rejects a non-object config', () => {
    expectOnly(null, 'config must be an object');
    expectOnly([], 'config must be an object');
  });

  it('rejects unknown keys, suggesting the intended one', () => {
    expectOnly(
      { exchanges: [{ name: 'e', type: 'direct', autodelete: true }] },
      'exchanges[0].autodelete is not a known option (did you mean "autoDelete"?)',
    );
    expectOnly({ queue: [] }, 'queue is not a known option (did you mean "queues"?)');
    expectOnly(queue({ 'x-weird key': 1 }), 'queues[0]["x-weird key"] is not a known option');
    expectOnly(
      { bindings: [{ source: 'amq.direct', destination: 'q', routing_key: 'k' }] },
      'bindings[0].routing_key is not a known option (did you mean "routingKey"?)',
    );
  });

  it('requires exchange names and types', () => {
    expect(problems({ exchanges: [{}] })).toEqual(['exchanges[0].name is required', 'exchanges[0].type is required']);
  });

  it('rejects an unknown exchange type', () => {
    expectOnly(
      { exchanges: [{ name: 'e', type: 'fanout2' }] },
      'exchanges[0].type must be one of direct, fanout, topic, headers (or an x- plugin type)',
    );
    expectOnly(
      { exchanges: [{ name: 'e', type: 'x-' }] },
      'exchanges[0].type must be one of direct, fanout, topic, headers (or an x- plugin type)',
    );
  });

  it('rejects an empty exchange name', () => {
    expectOnly(
      { exchanges: [{ name: '', type: 'direct' }] },
      'exchanges[0].name must not be empty (the default exchange "" is built in and cannot be declared)',
    );
  });

  it('rejects declaring amq.* exchanges and queues', () => {
    expectOnly(
      { exchanges: [{ name: 'amq.custom', type: 'direct' }] },
      'exchanges[0].name must not start with "amq." (the broker reserves that prefix and refuses to declare such exchanges; the built-in amq.* exchanges need no declaration)',
    );
    expectOnly(
      { queues: [{ name: 'amq.q' }] },
      'queues[0].name must not start with "amq." (the broker reserves that prefix for its own queues)',
    );
  });

  it('limits names to 255 UTF-8 bytes, not characters', () => {
    expect(validateConfig({ queues: [{ name: 'a'.repeat(255) }] }).queues).toHaveLength(1);
    // 128 two-byte characters: 128 characters but 256 bytes.
    expectOnly(
      { queues: [{ name: 'x' }, { name: 'é'.repeat(128) }] },
      'queues[1].name must be at most 255 bytes (UTF-8)',
    );
    expectOnly(
      { exchanges: [{ name: 'e'.repeat(256), type: 'direct' }] },
      'exchanges[0].name must be at most 255 bytes (UTF-8)',
    );
    expectOnly(
      queue({ exchange: 'amq.topic', routingKey: 'k'.repeat(256) }),
      'queues[0].routingKey must be at most 255 bytes (UTF-8)',
    );
  });

  it('checks value types', () => {
    expect(
      problems({
        vhost: 1,
        exchanges: [{ name: 7, type: 'direct', durable: 'yes' }],
        queues: [{ name: 'q', exclusive: 1, arguments: [] }],
        bindings: 'none',
      }),
    ).toEqual([
      'vhost must be a string',
      'bindings must be an array',
      'exchanges[0].name must be a string',
      'exchanges[0].durable must be a boolean',
      'queues[0].exclusive must be a boolean',
      'queues[0].arguments must be an object',
    ]);
    expectOnly({ queues: ['q'] }, 'queues[0] must be an object');
    expectOnly(queue({ exchange: 5 }), 'queues[0].exchange must be an exchange name or an exchange definition');
  });

  it('checks the vhost', () => {
    expectOnly({ vhost: '' }, 'vhost must not be empty');
    expectOnly({ vhost: 'v'.repeat(256) }, 'vhost must be at most 255 bytes (UTF-8)');
  });

  it('rejects duplicate queue names but allows several server-named queues', () => {
    expectOnly(
      { queues: [{ name: 'a' }, { name: 'b' }, { name: 'a' }] },
      'queues[2].name duplicates queues[0].name ("a")',
    );
    expect(validateConfig({ queues: [{ name: '' }, { name: '' }] }).queues).toHaveLength(2);
  });

  it('rejects conflicting definitions of one exchange and names the difference', () => {
    expectOnly(
      {
        exchanges: [{ name: 'e', type: 'topic' }],
        queues: [{ name: 'q', exchange: { name: 'e', type: 'topic', durable: false } }],
      },
      'queues[0].exchange defines exchange "e" differently from exchanges[0] (durable: false vs true)',
    );
    expectOnly(
      {
        exchanges: [
          { name: 'e', type: 'topic' },
          { name: 'e', type: 'direct' },
        ],
      },
      'exchanges[1] defines exchange "e" differently from exchanges[0] (type: "direct" vs "topic")',
    );
    expectOnly(
      {
        queues: [
          { name: 'a', exchange: { name: 'e', type: 'topic', arguments: { 'alternate-exchange': 'x' } } },
          { name: 'b', exchange: { name: 'e', type: 'topic' } },
        ],
      },
      'queues[1].exchange defines exchange "e" differently from queues[0].exchange (different arguments)',
    );
  });

  it('treats identical duplicate exchange definitions as one', () => {
    const resolved = validateConfig({
      exchanges: [
        { name: 'e', type: 'topic', arguments: { n: 1 } },
        { name: 'e', type: 'topic', durable: true, arguments: { n: 1n } },
      ],
    });
    expect(resolved.exchanges).toHaveLength(1);
  });

  it('rejects references to undeclared exchanges, naming them', () => {
    expectOnly(
      queue({ exchange: 'orders' }),
      'queues[0].exchange refers to exchange "orders", which is neither declared in exchanges nor built in',
    );
    expectOnly(
      { bindings: [{ source: 'nope', destination: 'q' }] },
      'bindings[0].source refers to exchange "nope", which is neither declared in exchanges nor built in',
    );
    expectOnly(
      {
        exchanges: [{ name: 'src', type: 'fanout' }],
        bindings: [{ source: 'src', destination: 'dst', destinationType: 'exchange' }],
      },
      'bindings[0].destination refers to exchange "dst", which is neither declared in exchanges nor built in',
    );
  });

  it('allows binding to queues that the config does not declare', () => {
    expect(
      validateConfig({ bindings: [{ source: 'amq.topic', destination: 'declared-elsewhere' }] }).bindings,
    ).toHaveLength(1);
  });

  it('rejects bindings to the default exchange', () => {
    const rule =
      'must not be the default exchange "" (the broker refuses bindings to it; every queue is already bound to it by name)';
    expectOnly({ bindings: [{ source: '', destination: 'q' }] }, `bindings[0].source ${rule}`);
    expectOnly(queue({ exchange: '' }), `queues[0].exchange ${rule}`);
  });

  it('checks binding fields', () => {
    expect(problems({ bindings: [{ source: 'amq.direct', destination: '', destinationType: 'topic' }, {}] })).toEqual([
      'bindings[0].destinationType must be one of queue, exchange',
      'bindings[0].destination must not be empty',
      'bindings[1].source is required',
      'bindings[1].destination is required',
    ]);
  });

  it('rejects a routing key without an exchange', () => {
    expectOnly(
      queue({ routingKey: 'k' }),
      'queues[0].routingKey is only meaningful with exchange (set exchange or remove routingKey)',
    );
  });

  it('checks x-queue-type', () => {
    expectOnly(
      args({ 'x-queue-type': 'lazy' }),
      'queues[0].arguments["x-queue-type"] must be one of classic, quorum, stream',
    );
  });

  it('checks non-negative integer arguments', () => {
    for (const key of ['x-message-ttl', 'x-max-length', 'x-max-length-bytes']) {
      for (const bad of [-1, 1.5, '100', Number.NaN, 2 ** 53, -1n, 2n ** 63n]) {
        expectOnly(args({ [key]: bad }), `queues[0].arguments[${JSON.stringify(key)}] must be a non-negative integer`);
      }
      expect(validateConfig(args({ [key]: 0 })).queues).toHaveLength(1);
      expect(validateConfig(args({ [key]: 2n ** 63n - 1n })).queues).toHaveLength(1);
    }
    expectOnly(
      queue({ arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': -3 } }),
      'queues[0].arguments["x-delivery-limit"] must be a non-negative integer, or -1 for no limit (RabbitMQ 4)',
    );
  });

  it('requires x-expires to be at least 1', () => {
    expectOnly(
      args({ 'x-expires': 0 }),
      'queues[0].arguments["x-expires"] must be a positive integer (milliseconds, at least 1)',
    );
  });

  it('checks x-max-priority range', () => {
    for (const bad of [0, 256, 256n, 2.5, '5']) {
      expectOnly(
        args({ 'x-max-priority': bad }),
        'queues[0].arguments["x-max-priority"] must be an integer between 1 and 255',
      );
    }
    expect(validateConfig(args({ 'x-max-priority': 255 })).queues).toHaveLength(1);
    expect(validateConfig(args({ 'x-max-priority': 1n })).queues).toHaveLength(1);
  });

  it('checks x-overflow, x-single-active-consumer and dead-lettering arguments', () => {
    expectOnly(
      args({ 'x-overflow': 'drop-tail' }),
      'queues[0].arguments["x-overflow"] must be one of drop-head, reject-publish, reject-publish-dlx',
    );
    expectOnly(
      args({ 'x-single-active-consumer': 'true' }),
      'queues[0].arguments["x-single-active-consumer"] must be a boolean',
    );
    expectOnly(args({ 'x-dead-letter-exchange': 1 }), 'queues[0].arguments["x-dead-letter-exchange"] must be a string');
    expectOnly(
      args({ 'x-dead-letter-exchange': 'd'.repeat(256) }),
      'queues[0].arguments["x-dead-letter-exchange"] must be at most 255 bytes (UTF-8)',
    );
    expectOnly(
      args({ 'x-dead-letter-exchange': 'dlx', 'x-dead-letter-routing-key': 2 }),
      'queues[0].arguments["x-dead-letter-routing-key"] must be a string',
    );
    expectOnly(
      args({ 'x-dead-letter-routing-key': 'k' }),
      'queues[0].arguments["x-dead-letter-routing-key"] requires x-dead-letter-exchange',
    );
  });

  it('checks alternate-exchange on exchanges', () => {
    expectOnly(
      { exchanges: [{ name: 'e', type: 'direct', arguments: { 'alternate-exchange': 5 } }] },
      'exchanges[0].arguments["alternate-exchange"] must be a string',
    );
  });

  it('enforces quorum queue rules', () => {
    expect(
      problems(
        queue({
          durable: false,
          exclusive: true,
          autoDelete: true,
          arguments: { 'x-queue-type': 'quorum', 'x-max-priority': 5, 'x-overflow': 'reject-publish-dlx' },
        }),
      ),
    ).toEqual([
      'queues[0].durable must be true for a quorum queue',
      'queues[0].exclusive must be false for a quorum queue',
      'queues[0].autoDelete must be false for a quorum queue',
      'queues[0].arguments["x-max-priority"] is not supported by quorum queues',
      'queues[0].arguments["x-overflow"] reject-publish-dlx is not supported by quorum queues',
    ]);
  });

  it('enforces stream rules', () => {
    expectOnly(
      queue({ durable: false, arguments: { 'x-queue-type': 'stream' } }),
      'queues[0].durable must be true for a stream',
    );
  });

  it('allows x-delivery-limit only on quorum queues', () => {
    const line =
      'queues[0].arguments["x-delivery-limit"] is only supported by quorum queues (set x-queue-type to quorum)';
    expectOnly(args({ 'x-delivery-limit': 3 }), line);
    expectOnly(args({ 'x-queue-type': 'classic', 'x-delivery-limit': 3 }), line);
    expectOnly(args({ 'x-queue-type': 'stream', 'x-delivery-limit': 3 }), line);
  });

  it('collects every problem into one error with a readable message', () => {
    let caught: unknown;
    try {
      validateConfig({
        exchanges: [{ name: 'e', type: 'nope' }],
        queues: [{ name: 'a' }, { name: 'b', autodelete: true }, { name: 'c', arguments: { 'x-message-ttl': -5 } }],
      });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigValidationError);
    expect(caught).toBeInstanceOf(WarrenError);
    const err = caught as ConfigValidationError;
    expect(err.code).toBe('ERR_CONFIG_INVALID');
    expect(err.recoverable).toBe(false);
    expect(err.name).toBe('ConfigValidationError');
    expect(err.issues).toEqual([
      { path: 'exchanges[0].type', message: 'must be one of direct, fanout, topic, headers (or an x- plugin type)' },
      { path: 'queues[1].autodelete', message: 'is not a known option (did you mean "autoDelete"?)' },
      { path: 'queues[2].arguments["x-message-ttl"]', message: 'must be a non-negative integer' },
    ]);
    expect(err.message).toBe(
      [
        'invalid RabbitMQ config (3 problems):',
        '  - exchanges[0].type must be one of direct, fanout, topic, headers (or an x- plugin type)',
        '  - queues[1].autodelete is not a known option (did you mean "autoDelete"?)',
        '  - queues[2].arguments["x-message-ttl"] must be a non-negative integer',
      ].join('\n'),
    );
  });
});

describe('validateArguments', () => {
  it('returns issues with paths under the given prefix', () => {
    expect(validateArguments({ 'x-message-ttl': -1, 'x-queue-type': 'quorum' }, 'queues[2].arguments')).toEqual([
      { path: 'queues[2].arguments["x-message-ttl"]', message: 'must be a non-negative integer' },
    ]);
  });

  it('accepts unknown arguments and rejects non-objects', () => {
    expect(validateArguments({ 'x-something-new': 'whatever' })).toEqual([]);
    expect(validateArguments('nope')).toEqual([{ path: 'arguments', message: 'must be an object' }]);
  });
});
