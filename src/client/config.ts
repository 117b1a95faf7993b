/**
 * Topology as data: the exchanges, queues and bindings an application needs, written as a plain object
 * and checked before anything touches the broker.
 *
 * The broker reports topology mistakes one at a time, as a channel or connection exception, after part
 * of the topology is already declared. {@link validateConfig} instead reports every problem it can see
 * up front, each with the path of the offending value, and returns a copy with every default filled in
 * so that the code declaring the topology never has to know the defaults.
 *
 * @example
 * ```ts
 * const config = defineConfig({
 *   exchanges: [{ name: 'orders', type: 'topic' }],
 *   queues: [{ name: 'orders.created', exchange: 'orders', routingKey: 'order.created', arguments: { 'x-queue-type': 'quorum' } }],
 * });
 * const resolved = validateConfig(config); // throws ConfigValidationError listing every problem
 * ```
 * @module
 */

import { WarrenError } from '../protocol/errors.js';

/** The exchange types every RabbitMQ broker provides. Plugins add more, named `x-...`. */
export enum ExchangeType {
  /** Routes a message to the queues bound with a routing key equal to the message's. */
  DIRECT = 'direct',
  /** Routes a message to every bound queue; routing keys are ignored. */
  FANOUT = 'fanout',
  /**
   * Routes by pattern: binding keys are dot-separated words where `*` matches exactly one word and `#`
   * zero or more (`order.*.eu`, `audit.#`).
   */
  TOPIC = 'topic',
  /**
   * Routes by the message's headers against the binding's arguments (`x-match: all` or `any`); routing keys are
   * ignored.
   */
  HEADERS = 'headers',
}

/** An exchange type as a string: a built-in type or a plugin type such as `x-delayed-message`. */
export type ExchangeTypeName = 'direct' | 'fanout' | 'topic' | 'headers' | `x-${string}`;

/** An exchange to declare. Omitted flags take the defaults noted on each property. */
export interface Exchange {
  /** Non-empty, at most 255 UTF-8 bytes, not starting with `amq.` (the broker reserves that prefix). */
  name: string;
  /**
   * How the exchange routes (see {@link ExchangeType}); a plugin's type such as `x-delayed-message` or
   * `x-consistent-hash` needs that plugin on the broker. Required.
   */
  type: ExchangeType | 'direct' | 'fanout' | 'topic' | 'headers' | `x-${string}`;
  /** Default `true`: topology described as data is meant to survive a broker restart. */
  durable?: boolean;
  /** Default `false`. */
  autoDelete?: boolean;
  /** Default `false`. */
  internal?: boolean;
  /** Default `{}`. `alternate-exchange` is checked to be an exchange name. */
  arguments?: Record<string, unknown>;
}

/**
 * The queue arguments the broker interprets, typed; {@link validateConfig} checks their values and the
 * queue types that accept them. Other `x-` arguments (plugins, newer brokers) pass through untouched.
 * Integers may be given as `number` or `bigint`.
 */
export interface QueueArguments {
  /**
   * The queue type: `classic` (the broker's default), `quorum` (replicated, durable) or `stream` (an
   * append-only log). Quorum queues and streams must be durable, not exclusive and not auto-delete.
   */
  'x-queue-type'?: 'classic' | 'quorum' | 'stream';
  /** Milliseconds a message may stay in the queue. Not for streams. */
  'x-message-ttl'?: number | bigint;
  /** Milliseconds without use after which the queue is deleted (at least 1). */
  'x-expires'?: number | bigint;
  /** Messages the queue holds at most; `x-overflow` says what happens to the next one. Not for streams. */
  'x-max-length'?: number | bigint;
  /**
   * Total body bytes the queue holds at most (`x-overflow` says what happens past it); for streams, the log's size
   * limit.
   */
  'x-max-length-bytes'?: number | bigint;
  /**
   * What a full queue does: `drop-head` (default: drops the oldest), `reject-publish` (nacks the new one),
   * `reject-publish-dlx` (nacks and dead-letters it; classic queues only). Not for streams.
   */
  'x-overflow'?: 'drop-head' | 'reject-publish' | 'reject-publish-dlx';
  /**
   * Exchange that messages which die in this queue (rejected or nacked without requeue, expired, dropped
   * by `x-max-length`, over `x-delivery-limit`) are republished to; `""` is the default exchange.
   */
  'x-dead-letter-exchange'?: string;
  /** Only with `x-dead-letter-exchange`. */
  'x-dead-letter-routing-key'?: string;
  /**
   * Quorum queues: `at-most-once` (default; a dead letter the target refuses is lost) or `at-least-once`
   * (kept until the target confirms it; needs `x-overflow: 'reject-publish'`).
   */
  'x-dead-letter-strategy'?: 'at-most-once' | 'at-least-once';
  /**
   * Quorum queues: deliveries after which a message is dead-lettered (or, without a dead-letter exchange,
   * dropped). RabbitMQ 4 defaults it to 20 for every quorum queue; `-1` removes the limit (RabbitMQ 4).
   */
  'x-delivery-limit'?: number | bigint;
  /** Where the queue's leader (quorum queues, streams; classic queues on RabbitMQ 4) is placed. */
  'x-queue-leader-locator'?: 'client-local' | 'balanced';
  /** Milliseconds a consumer may hold an unacknowledged delivery before the broker cancels it (at least 1). */
  'x-consumer-timeout'?: number | bigint;
  /** Classic queues: 1..255. */
  'x-max-priority'?: number | bigint;
  /** `true`: only one consumer at a time receives messages; the others wait and take over, in order, when it goes. */
  'x-single-active-consumer'?: boolean;
  [argument: string]: unknown;
}

/** A queue to declare, optionally bound to one exchange. Omitted flags take the defaults noted on each property. */
export interface Queue {
  /**
   * At most 255 UTF-8 bytes; `''` asks the broker to choose a name (a new one on every reconnect: such a
   * queue defaults to exclusive, auto-delete and not durable, unless its `x-queue-type` is not classic).
   */
  name: string;
  /** Default `true` (`false` for a server-named classic queue). */
  durable?: boolean;
  /** Default `false` (`true` for a server-named classic queue). */
  autoDelete?: boolean;
  /** Default `false` (`true` for a server-named classic queue). */
  exclusive?: boolean;
  /** Default `{}`. Known `x-` arguments are checked for type and range; others pass through untouched. */
  arguments?: QueueArguments;
  /**
   * The exchange to bind the queue to: a name declared in `exchanges` (or built in), or an inline
   * exchange definition, which is added to the resolved exchanges.
   */
  exchange?: Exchange | string;
  /** Routing key of the binding to `exchange`. Default: the queue name. Only allowed with `exchange`. */
  routingKey?: string;
}

/** A binding from an exchange to a queue or to another exchange. */
export interface Binding {
  /** The exchange messages come from: declared in `exchanges` or built in (`amq.*`). */
  source: string;
  /** A queue name (it may be declared elsewhere) or, with `destinationType: 'exchange'`, an exchange name. */
  destination: string;
  /** Default `'queue'`. */
  destinationType?: 'queue' | 'exchange';
  /** Default `''`. */
  routingKey?: string;
  /** Default `{}`. */
  arguments?: Record<string, unknown>;
}

/** A whole topology. Every part is optional. */
export interface RabbitMQConfig {
  /** The virtual host the topology lives in. Default `'/'`. */
  vhost?: string;
  /** Exchanges to declare, in order. Default none. */
  exchanges?: Exchange[];
  /** Queues to declare (each optionally bound to one exchange), in order, after the exchanges. Default none. */
  queues?: Queue[];
  /** Further bindings (queue or exchange destinations), declared after the exchanges and queues. Default none. */
  bindings?: Binding[];
}

/** An {@link Exchange} with every default filled in. */
export interface ResolvedExchange {
  /** {@inheritDoc Exchange.name} */
  name: string;
  /** The exchange type, as a string (see {@link ExchangeType}). */
  type: ExchangeTypeName;
  /** Survives a broker restart (default `true`). */
  durable: boolean;
  /** Deleted once its last binding is removed (default `false`). */
  autoDelete: boolean;
  /** Only reachable through exchange-to-exchange bindings, not by publishing (default `false`). */
  internal: boolean;
  /** The exchange arguments (default `{}`). */
  arguments: Record<string, unknown>;
}

/** A {@link Queue} with every default filled in and its exchange reduced to a name. */
export interface ResolvedQueue {
  /** The queue's name; `''` for a server-named queue (the broker picks the name on each declare). */
  name: string;
  /** Survives a broker restart (default `true`; `false` for a server-named classic queue). */
  durable: boolean;
  /** Deleted once its last consumer is cancelled (default `false`; `true` for a server-named classic queue). */
  autoDelete: boolean;
  /**
   * Used only by the declaring connection and deleted with it (default `false`; `true` for a server-named classic
   * queue).
   */
  exclusive: boolean;
  /** The queue arguments, checked (default `{}`). */
  arguments: Record<string, unknown>;
  /** Name of the exchange to bind to, or `undefined` when the queue is not bound by the config. */
  exchange: string | undefined;
  /**
   * Routing key of the binding to `exchange`. `undefined` when there is no exchange, and also for a
   * server-named queue (`name: ''`) without an explicit key: the name to bind with is only known once
   * the broker has assigned it.
   */
  routingKey: string | undefined;
}

/** A {@link Binding} with every default filled in. */
export interface ResolvedBinding {
  /** {@inheritDoc Binding.source} */
  source: string;
  /** {@inheritDoc Binding.destination} */
  destination: string;
  /** Whether `destination` is a queue (queue.bind) or an exchange (exchange.bind). */
  destinationType: 'queue' | 'exchange';
  /** The binding key (default `''`). */
  routingKey: string;
  /** The binding arguments (default `{}`). */
  arguments: Record<string, unknown>;
}

/** The result of {@link validateConfig}: the topology with every default filled in. */
export interface ResolvedConfig {
  /** The virtual host (default `'/'`). */
  vhost: string;
  /** Declared exchanges in order, followed by inline queue exchanges not declared there (each name once). */
  exchanges: ResolvedExchange[];
  /** The queues, in config order. */
  queues: ResolvedQueue[];
  /** The `bindings` of the config, in order (a queue's own `exchange` binding is on the queue, not here). */
  bindings: ResolvedBinding[];
}

/**
 * One problem found in a config. `path` locates the value (`queues[2].arguments["x-message-ttl"]`);
 * `message` states the rule it breaks, without the path (`must be a non-negative integer`).
 */
export interface ConfigIssue {
  /** Where the offending value is, e.g. `queues[2].arguments["x-message-ttl"]` (`config` for the config itself). */
  path: string;
  /** The rule it breaks, without the path, e.g. `must be a non-negative integer`. */
  message: string;
}

/**
 * A config broke one or more rules. `issues` lists all of them, not just the first, so that a config
 * can be fixed in one pass; `message` has one line per issue, `<path> <rule>`.
 */
export class ConfigValidationError extends WarrenError {
  static override readonly kind: string = 'ConfigValidationError';
  /** Every problem found (at least one), in the order the checks found them. */
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    const lines = issues.map((issue) => `  - ${formatIssue(issue)}`);
    const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
    super(`invalid RabbitMQ config (${count}):\n${lines.join('\n')}`, {
      code: 'ERR_CONFIG_INVALID',
      recoverable: false,
    });
    this.issues = Object.freeze([...issues]);
  }
}

/** `<path> <rule>`, the line {@link ConfigValidationError} prints for one issue. */
export function formatIssue(issue: ConfigIssue): string {
  return `${issue.path} ${issue.message}`;
}

/**
 * Identity function that gives an object literal the {@link RabbitMQConfig} type, so editors check and
 * complete it where it is written rather than where it is used.
 *
 * @example
 * ```ts
 * export default defineConfig({ queues: [{ name: 'jobs', arguments: { 'x-queue-type': 'quorum' } }] });
 * ```
 */
export function defineConfig(c: RabbitMQConfig): RabbitMQConfig {
  return c;
}

// ---------------------------------------------------------------------------------------------------------
// Rules shared by several entities.

/** AMQP short strings (names, routing keys) carry a one-byte length. */
const MAX_SHORTSTR_BYTES = 255;
/** Signed 64-bit: the widest integer an AMQP field table carries. */
const MAX_INT64 = 2n ** 63n - 1n;

const BUILTIN_EXCHANGE_TYPES: readonly string[] = ['direct', 'fanout', 'topic', 'headers'];
const QUEUE_TYPES: readonly string[] = ['classic', 'quorum', 'stream'];
const OVERFLOW_MODES: readonly string[] = ['drop-head', 'reject-publish', 'reject-publish-dlx'];
const DEAD_LETTER_STRATEGIES: readonly string[] = ['at-most-once', 'at-least-once'];
const LEADER_LOCATORS: readonly string[] = ['client-local', 'balanced'];

const TOP_KEYS = ['vhost', 'exchanges', 'queues', 'bindings'] as const;
const EXCHANGE_KEYS = ['name', 'type', 'durable', 'autoDelete', 'internal', 'arguments'] as const;
const QUEUE_KEYS = ['name', 'durable', 'autoDelete', 'exclusive', 'arguments', 'exchange', 'routingKey'] as const;
const BINDING_KEYS = ['source', 'destination', 'destinationType', 'routingKey', 'arguments'] as const;

const DEFAULT_EXCHANGE_RULE =
  'must not be the default exchange "" (the broker refuses bindings to it; every queue is already bound to it by name)';

type Report = (path: string, message: string) => void;
type PlainObject = Record<string, unknown>;

function isPlainObject(value: unknown): value is PlainObject {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** Exchanges the broker provides: they may be referred to without being declared. */
function isBuiltInExchange(name: string): boolean {
  return name === '' || name.startsWith('amq.');
}

function child(path: string, key: string): string {
  const segment = /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
  return path === '' ? segment.replace(/^\./, '') : `${path}${segment}`;
}

function argPath(path: string, key: string): string {
  return `${path}[${JSON.stringify(key)}]`;
}

/** Unknown keys are errors because a misspelt option (`autodelete`) would otherwise silently take its default. */
function checkKeys(obj: PlainObject, known: readonly string[], path: string, report: Report): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const suggestion = suggest(key, known);
    const hint = suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`;
    report(child(path, key), `is not a known option${hint}`);
  }
}

function suggest(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    if (candidate.toLowerCase() === lower) return candidate;
    const d = editDistance(lower, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

function readBoolean(obj: PlainObject, key: string, fallback: boolean, path: string, report: Report): boolean {
  const value = obj[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') {
    report(child(path, key), 'must be a boolean');
    return fallback;
  }
  return value;
}

/** Returns the string (possibly too long, so later checks still see it) or undefined when absent or not a string. */
function readString(
  obj: PlainObject,
  key: string,
  path: string,
  report: Report,
  required: boolean,
): string | undefined {
  const value = obj[key];
  if (value === undefined) {
    if (required) report(child(path, key), 'is required');
    return undefined;
  }
  if (typeof value !== 'string') {
    report(child(path, key), 'must be a string');
    return undefined;
  }
  if (utf8Length(value) > MAX_SHORTSTR_BYTES) report(child(path, key), 'must be at most 255 bytes (UTF-8)');
  return value;
}

function readArguments(obj: PlainObject, path: string, report: Report): PlainObject {
  const value = obj.arguments;
  if (value === undefined) return {};
  if (!isPlainObject(value)) {
    report(child(path, 'arguments'), 'must be an object');
    return {};
  }
  return { ...value };
}

function readArray(obj: PlainObject, key: string, report: Report): unknown[] {
  const value = obj[key];
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    report(key, 'must be an array');
    return [];
  }
  return value;
}

function isNonNegativeInteger(value: unknown, min = 0): boolean {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= min;
  if (typeof value === 'bigint') return value >= BigInt(min) && value <= MAX_INT64;
  return false;
}

// ---------------------------------------------------------------------------------------------------------
// Arguments.

/**
 * Checks the type and range of the queue `x-` arguments the broker interprets, so that a wrong value
 * fails here with a path rather than as a PRECONDITION_FAILED channel exception at declare time.
 * Unknown arguments pass: plugins and newer brokers define more. Rules that depend on the queue's
 * flags (quorum queues must be durable...) are checked by {@link validateConfig}, not here.
 *
 * @param path prefix of the reported paths, e.g. `queues[2].arguments`.
 * @returns the issues found; empty when the arguments are fine.
 *
 * @example
 * ```ts
 * validateArguments({ 'x-message-ttl': -1 }, 'queues[0].arguments');
 * // [{ path: 'queues[0].arguments["x-message-ttl"]', message: 'must be a non-negative integer' }]
 * ```
 */
export function validateArguments(args: unknown, path = 'arguments'): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (!isPlainObject(args)) {
    issues.push({ path, message: 'must be an object' });
    return issues;
  }
  const report = (key: string, message: string) => issues.push({ path: argPath(path, key), message });
  const oneOf = (key: string, allowed: readonly string[]) => {
    const value = args[key];
    if (value !== undefined && (typeof value !== 'string' || !allowed.includes(value))) {
      report(key, `must be one of ${allowed.join(', ')}`);
    }
  };
  const integer = (key: string, min: number, rule: string) => {
    const value = args[key];
    if (value !== undefined && !isNonNegativeInteger(value, min)) report(key, rule);
  };

  oneOf('x-queue-type', QUEUE_TYPES);
  oneOf('x-overflow', OVERFLOW_MODES);
  oneOf('x-dead-letter-strategy', DEAD_LETTER_STRATEGIES);
  oneOf('x-queue-leader-locator', LEADER_LOCATORS);
  for (const key of ['x-message-ttl', 'x-max-length', 'x-max-length-bytes']) {
    integer(key, 0, 'must be a non-negative integer');
  }
  const limit = args['x-delivery-limit'];
  if (limit !== undefined && !isNonNegativeInteger(limit) && limit !== -1 && limit !== -1n) {
    report('x-delivery-limit', 'must be a non-negative integer, or -1 for no limit (RabbitMQ 4)');
  }
  integer('x-expires', 1, 'must be a positive integer (milliseconds, at least 1)');
  integer('x-consumer-timeout', 1, 'must be a positive integer (milliseconds, at least 1)');
  if (args['x-dead-letter-strategy'] === 'at-least-once' && args['x-overflow'] !== 'reject-publish') {
    // Otherwise the broker silently falls back to at-most-once.
    report('x-dead-letter-strategy', 'at-least-once requires x-overflow: reject-publish');
  }
  const priority = args['x-max-priority'];
  if (priority !== undefined && !(isNonNegativeInteger(priority, 1) && BigInt(priority as number | bigint) <= 255n)) {
    report('x-max-priority', 'must be an integer between 1 and 255');
  }

  const dlx = args['x-dead-letter-exchange'];
  if (dlx !== undefined) {
    if (typeof dlx !== 'string') report('x-dead-letter-exchange', 'must be a string');
    else if (utf8Length(dlx) > MAX_SHORTSTR_BYTES)
      report('x-dead-letter-exchange', 'must be at most 255 bytes (UTF-8)');
  }
  const dlrk = args['x-dead-letter-routing-key'];
  if (dlrk !== undefined) {
    if (typeof dlrk !== 'string') report('x-dead-letter-routing-key', 'must be a string');
    else if (utf8Length(dlrk) > MAX_SHORTSTR_BYTES) {
      report('x-dead-letter-routing-key', 'must be at most 255 bytes (UTF-8)');
    } else if (dlx === undefined) {
      // The broker rejects this combination with PRECONDITION_FAILED.
      report('x-dead-letter-routing-key', 'requires x-dead-letter-exchange');
    }
  }
  const sac = args['x-single-active-consumer'];
  if (sac !== undefined && typeof sac !== 'boolean') report('x-single-active-consumer', 'must be a boolean');
  return issues;
}

function validateExchangeArguments(args: PlainObject, path: string, report: Report): void {
  const ae = args['alternate-exchange'];
  if (ae === undefined) return;
  if (typeof ae !== 'string') report(argPath(path, 'alternate-exchange'), 'must be a string');
  else if (utf8Length(ae) > MAX_SHORTSTR_BYTES) {
    report(argPath(path, 'alternate-exchange'), 'must be at most 255 bytes (UTF-8)');
  }
}

// ---------------------------------------------------------------------------------------------------------
// Entities.

function resolveExchange(value: unknown, path: string, report: Report): ResolvedExchange | undefined {
  if (!isPlainObject(value)) {
    report(path, 'must be an object');
    return undefined;
  }
  checkKeys(value, EXCHANGE_KEYS, path, report);
  const name = readString(value, 'name', path, report, true);
  if (name === '') {
    report(child(path, 'name'), 'must not be empty (the default exchange "" is built in and cannot be declared)');
  } else if (name?.startsWith('amq.')) {
    report(
      child(path, 'name'),
      'must not start with "amq." (the broker reserves that prefix and refuses to declare such exchanges; the built-in amq.* exchanges need no declaration)',
    );
  }
  const type = value.type;
  if (type === undefined) report(child(path, 'type'), 'is required');
  else if (!isExchangeType(type)) {
    report(child(path, 'type'), 'must be one of direct, fanout, topic, headers (or an x- plugin type)');
  }
  const args = readArguments(value, path, report);
  validateExchangeArguments(args, child(path, 'arguments'), report);
  const resolved: ResolvedExchange = {
    name: name ?? '',
    type: isExchangeType(type) ? type : 'direct',
    durable: readBoolean(value, 'durable', true, path, report),
    autoDelete: readBoolean(value, 'autoDelete', false, path, report),
    internal: readBoolean(value, 'internal', false, path, report),
    arguments: args,
  };
  return name === undefined ? undefined : resolved;
}

function isExchangeType(value: unknown): value is ExchangeTypeName {
  return typeof value === 'string' && (BUILTIN_EXCHANGE_TYPES.includes(value) || /^x-./.test(value));
}

/** The first property in which two definitions of one exchange differ, for the conflict message. */
function exchangeDifference(a: ResolvedExchange, b: ResolvedExchange): string | undefined {
  for (const key of ['type', 'durable', 'autoDelete', 'internal'] as const) {
    if (a[key] !== b[key]) return `${key}: ${JSON.stringify(a[key])} vs ${JSON.stringify(b[key])}`;
  }
  return sameValue(a.arguments, b.arguments) ? undefined : 'different arguments';
}

/** Structural equality for argument values (the shapes a field table can carry). */
function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  // 1 and 1n describe the same argument value.
  const big = (v: unknown) => (typeof v === 'bigint' ? v : Number.isInteger(v) ? BigInt(v as number) : undefined);
  if (typeof a === 'bigint' || typeof b === 'bigint') {
    const x = big(a);
    return x !== undefined && x === big(b);
  }
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => sameValue(v, b[i]));
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.from(a).equals(b);
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && sameValue(a[k], b[k]));
  }
  return false;
}

interface Context {
  report: Report;
  /** Every exchange name the config defines, inline ones included, known before any reference is checked. */
  declared: Set<string>;
  /** Resolved exchanges by name, with the path of the definition that won. */
  exchanges: Map<string, { exchange: ResolvedExchange; path: string }>;
}

function registerExchange(ctx: Context, exchange: ResolvedExchange, path: string): void {
  const existing = ctx.exchanges.get(exchange.name);
  if (existing === undefined) {
    ctx.exchanges.set(exchange.name, { exchange, path });
    return;
  }
  const difference = exchangeDifference(exchange, existing.exchange);
  if (difference !== undefined) {
    ctx.report(
      path,
      `defines exchange ${JSON.stringify(exchange.name)} differently from ${existing.path} (${difference})`,
    );
  }
}

function checkExchangeReference(ctx: Context, name: string, path: string): void {
  if (name === '') ctx.report(path, DEFAULT_EXCHANGE_RULE);
  else if (!ctx.declared.has(name) && !isBuiltInExchange(name)) {
    ctx.report(path, `refers to exchange ${JSON.stringify(name)}, which is neither declared in exchanges nor built in`);
  }
}

function resolveQueue(ctx: Context, value: unknown, path: string): ResolvedQueue | undefined {
  const { report } = ctx;
  if (!isPlainObject(value)) {
    report(path, 'must be an object');
    return undefined;
  }
  checkKeys(value, QUEUE_KEYS, path, report);
  const name = readString(value, 'name', path, report, true);
  if (name?.startsWith('amq.')) {
    report(child(path, 'name'), 'must not start with "amq." (the broker reserves that prefix for its own queues)');
  }
  // A server-named queue gets a new name on every reconnect, so it belongs to one connection: exclusive and
  // auto-delete by default, or every reconnect would leave the last one behind, bound and filling.
  const rawType = isPlainObject(value.arguments) ? value.arguments['x-queue-type'] : undefined;
  const perConnection = name === '' && (rawType === undefined || rawType === 'classic');
  const durable = readBoolean(value, 'durable', !perConnection, path, report);
  const autoDelete = readBoolean(value, 'autoDelete', perConnection, path, report);
  const exclusive = readBoolean(value, 'exclusive', perConnection, path, report);
  const args = readArguments(value, path, report);
  const argsPath = child(path, 'arguments');
  for (const issue of validateArguments(args, argsPath)) report(issue.path, issue.message);
  checkQueueTypeRules(args, { durable, autoDelete, exclusive }, path, report);

  let exchange: string | undefined;
  const rawExchange = value.exchange;
  if (typeof rawExchange === 'string') {
    exchange = readString(value, 'exchange', path, report, false);
    if (exchange !== undefined) checkExchangeReference(ctx, exchange, child(path, 'exchange'));
  } else if (isPlainObject(rawExchange)) {
    const inline = resolveExchange(rawExchange, child(path, 'exchange'), report);
    if (inline !== undefined) {
      exchange = inline.name;
      if (inline.name !== '') registerExchange(ctx, inline, child(path, 'exchange'));
    }
  } else if (rawExchange !== undefined) {
    report(child(path, 'exchange'), 'must be an exchange name or an exchange definition');
  }

  let routingKey = readString(value, 'routingKey', path, report, false);
  if (routingKey !== undefined && rawExchange === undefined) {
    report(child(path, 'routingKey'), 'is only meaningful with exchange (set exchange or remove routingKey)');
  }
  if (exchange === undefined) routingKey = undefined;
  else if (routingKey === undefined && name !== '') routingKey = name;

  if (name === undefined) return undefined;
  return { name, durable, autoDelete, exclusive, arguments: args, exchange, routingKey };
}

/** Flags that the broker refuses in combination with a queue type, each reported where it is set. */
function checkQueueTypeRules(
  args: PlainObject,
  flags: { durable: boolean; autoDelete: boolean; exclusive: boolean },
  path: string,
  report: Report,
): void {
  const type = args['x-queue-type'];
  const argsPath = child(path, 'arguments');
  if (type === 'quorum' || type === 'stream') {
    const label = type === 'quorum' ? 'a quorum queue' : 'a stream';
    if (!flags.durable) report(child(path, 'durable'), `must be true for ${label}`);
    if (flags.exclusive) report(child(path, 'exclusive'), `must be false for ${label}`);
    if (flags.autoDelete) report(child(path, 'autoDelete'), `must be false for ${label}`);
  }
  if (type === 'quorum') {
    if (args['x-max-priority'] !== undefined) {
      report(argPath(argsPath, 'x-max-priority'), 'is not supported by quorum queues');
    }
    if (args['x-overflow'] === 'reject-publish-dlx') {
      report(argPath(argsPath, 'x-overflow'), 'reject-publish-dlx is not supported by quorum queues');
    }
  } else {
    for (const key of ['x-delivery-limit', 'x-dead-letter-strategy']) {
      if (args[key] !== undefined) {
        report(argPath(argsPath, key), 'is only supported by quorum queues (set x-queue-type to quorum)');
      }
    }
  }
  if (type === 'stream') {
    // A stream is an append-only log: it is bounded by size and age, never by count, and nothing overflows.
    if (args['x-max-length'] !== undefined) {
      report(argPath(argsPath, 'x-max-length'), 'is not supported by streams (use x-max-length-bytes or x-max-age)');
    }
    if (args['x-overflow'] !== undefined) report(argPath(argsPath, 'x-overflow'), 'is not supported by streams');
  }
}

function resolveBinding(ctx: Context, value: unknown, path: string): ResolvedBinding | undefined {
  const { report } = ctx;
  if (!isPlainObject(value)) {
    report(path, 'must be an object');
    return undefined;
  }
  checkKeys(value, BINDING_KEYS, path, report);
  const source = readString(value, 'source', path, report, true);
  const destination = readString(value, 'destination', path, report, true);
  let destinationType: 'queue' | 'exchange' = 'queue';
  const rawType = value.destinationType;
  if (rawType === 'exchange' || rawType === 'queue') destinationType = rawType;
  else if (rawType !== undefined) report(child(path, 'destinationType'), 'must be one of queue, exchange');
  const routingKey = readString(value, 'routingKey', path, report, false) ?? '';
  const args = readArguments(value, path, report);

  if (source !== undefined) checkExchangeReference(ctx, source, child(path, 'source'));
  if (destination !== undefined) {
    if (destinationType === 'exchange') checkExchangeReference(ctx, destination, child(path, 'destination'));
    // An empty queue name in queue.bind means "the channel's last declared queue": never what a config means.
    else if (destination === '') report(child(path, 'destination'), 'must not be empty');
  }
  if (source === undefined || destination === undefined) return undefined;
  return { source, destination, destinationType, routingKey, arguments: args };
}

// ---------------------------------------------------------------------------------------------------------
// Warnings: valid today, refused by the brokers most users run.

/**
 * What in a valid config some current brokers refuse: each issue has the path of the value and the rule,
 * like {@link ConfigValidationError}'s issues, but nothing throws. The client logs them on construction.
 * The rules:
 * - a queue that is neither durable nor exclusive: RabbitMQ 4.3 refuses transient non-exclusive queues
 *   by default (3.x and 4.0–4.2 still declare them);
 * - a quorum queue with neither `x-delivery-limit` nor `x-dead-letter-exchange`: RabbitMQ 4 gives it a
 *   delivery limit of 20 and then, with nowhere to dead-letter, drops a message requeued that often
 *   (a handler that keeps failing, a consumer that keeps losing its channel).
 *
 * @example
 * ```ts
 * configWarnings(validateConfig({ queues: [{ name: 'jobs', durable: false }] }));
 * // [{ path: 'queues[0].durable', message: 'is false for queue "jobs", which is not exclusive: RabbitMQ 4.3 refuses ...' }]
 * ```
 */
export function configWarnings(config: ResolvedConfig): ConfigIssue[] {
  const warnings: ConfigIssue[] = [];
  config.queues.forEach((q, i) => {
    if (q.durable || q.exclusive) return;
    const which = q.name === '' ? 'a server-named queue' : `queue ${JSON.stringify(q.name)}`;
    warnings.push({
      path: `queues[${i}].durable`,
      message: `is false for ${which}, which is not exclusive: RabbitMQ 4.3 refuses transient non-exclusive queues (make it durable, or exclusive)`,
    });
  });
  config.queues.forEach((q, i) => {
    const a = q.arguments;
    if (a['x-queue-type'] !== 'quorum' || a['x-delivery-limit'] !== undefined) return;
    if (a['x-dead-letter-exchange'] !== undefined) return;
    warnings.push({
      path: `queues[${i}].arguments`,
      message: `of quorum queue ${JSON.stringify(q.name)} set neither x-delivery-limit nor x-dead-letter-exchange: RabbitMQ 4 drops a message after its 20th requeue (set x-delivery-limit, -1 for no limit, or a dead-letter exchange)`,
    });
  });
  return warnings;
}

// ---------------------------------------------------------------------------------------------------------
// The whole config.

/**
 * Checks a topology config and returns it with every default filled in.
 *
 * All problems are collected before throwing, so one run shows everything to fix. Inline exchange
 * definitions on queues are hoisted into `exchanges` (one entry per name; two different definitions
 * of one name are an error). References to exchanges must resolve to one the config defines or to a
 * built-in (`amq.*`); binding destinations that are queues need not be in the config, since queues are
 * often declared by another service.
 *
 * @throws {ConfigValidationError} listing every issue, with its path, when the config is invalid.
 *
 * @example
 * ```ts
 * const { exchanges, queues } = validateConfig({
 *   exchanges: [{ name: 'events', type: 'topic' }],
 *   queues: [{ name: 'audit', exchange: 'events', routingKey: '#' }],
 * });
 * queues[0]; // { name: 'audit', durable: true, autoDelete: false, exclusive: false, arguments: {}, exchange: 'events', routingKey: '#' }
 * ```
 */
export function validateConfig(input: unknown): ResolvedConfig {
  const issues: ConfigIssue[] = [];
  const report: Report = (path, message) => {
    issues.push({ path, message });
  };
  if (!isPlainObject(input)) throw new ConfigValidationError([{ path: 'config', message: 'must be an object' }]);
  checkKeys(input, TOP_KEYS, '', report);

  let vhost = '/';
  if (input.vhost !== undefined) {
    const v = readString(input, 'vhost', '', report, false);
    if (v === '') report('vhost', 'must not be empty');
    if (v !== undefined) vhost = v;
  }

  const exchangesIn = readArray(input, 'exchanges', report);
  const queuesIn = readArray(input, 'queues', report);
  const bindingsIn = readArray(input, 'bindings', report);

  const declared = new Set<string>();
  for (const e of exchangesIn) if (isPlainObject(e) && typeof e.name === 'string') declared.add(e.name);
  for (const q of queuesIn) {
    if (isPlainObject(q) && isPlainObject(q.exchange) && typeof q.exchange.name === 'string') {
      declared.add(q.exchange.name);
    }
  }
  const ctx: Context = { report, declared, exchanges: new Map() };

  exchangesIn.forEach((value, i) => {
    const exchange = resolveExchange(value, `exchanges[${i}]`, report);
    if (exchange !== undefined && exchange.name !== '') registerExchange(ctx, exchange, `exchanges[${i}]`);
  });

  const queues: ResolvedQueue[] = [];
  const queuePaths = new Map<string, string>();
  queuesIn.forEach((value, i) => {
    const path = `queues[${i}]`;
    const queue = resolveQueue(ctx, value, path);
    if (queue === undefined) return;
    // Server-named queues ('') get distinct names from the broker, so several are fine.
    const first = queue.name === '' ? undefined : queuePaths.get(queue.name);
    if (first !== undefined) report(`${path}.name`, `duplicates ${first}.name (${JSON.stringify(queue.name)})`);
    else queuePaths.set(queue.name, path);
    queues.push(queue);
  });

  const bindings: ResolvedBinding[] = [];
  bindingsIn.forEach((value, i) => {
    const binding = resolveBinding(ctx, value, `bindings[${i}]`);
    if (binding !== undefined) bindings.push(binding);
  });

  if (issues.length > 0) throw new ConfigValidationError(issues);
  return { vhost, exchanges: [...ctx.exchanges.values()].map((e) => e.exchange), queues, bindings };
}
