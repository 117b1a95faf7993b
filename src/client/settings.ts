/**
 * Connection settings: what to connect to and how long to wait, resolved once from explicit options
 * and the environment (the `RABBITMQ_*` variables of the official Docker image), then validated.
 *
 * Broker URLs usually carry a password, so everything here that turns a URL into text goes through
 * {@link redactUrl}: no error message or log line built from these settings contains a password.
 *
 * @example
 * ```ts
 * const settings = resolveSettings({ connectionName: 'billing-worker' });
 * // with RABBITMQ_URL=amqp://app:s3cret@mq:5672/billing in the environment:
 * settings.urls;  // ['amqp://app:s3cret@mq:5672/billing']
 * settings.vhost; // 'billing'
 * ```
 * @module
 */

import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import { printAs, redactTls } from '../connection/secrets.js';
import { type AmqpUrl, parseUrl, redactText, redactUrl, urlQueryOptions, urlWithVhost } from '../connection/url.js';
import { WarrenError } from '../protocol/errors.js';

/**
 * The logging interface warren writes to. Shaped like pino (and compatible with `console`): the first
 * argument may be an object of structured fields, the second the message.
 */
export interface Logger {
  /** The finest detail. Optional: not every `console`-like logger has it. */
  trace?(...args: unknown[]): void;
  /** Detail for debugging. */
  debug(...args: unknown[]): void;
  /** Normal events worth a line, such as a connection made. */
  info(...args: unknown[]): void;
  /**
   * A failure warren recovers from or works around: a lost connection, a retried attempt, an ignored URL parameter...
   */
  warn(...args: unknown[]): void;
  /**
   * A failure warren cannot recover from by itself: retries exhausted, a handler error with no `'error'` listener...
   */
  error(...args: unknown[]): void;
}

const noop = (): void => {};

/** A {@link Logger} that discards everything: the default, because a library should not write to stdout unasked. */
export const silentLogger: Logger = Object.freeze({ trace: noop, debug: noop, info: noop, warn: noop, error: noop });

/** How to reach the broker. Every field is optional; see {@link resolveSettings} for defaults and the environment. */
export interface ConnectionOptions {
  /** One URL or several (tried in turn, e.g. cluster nodes): `amqp://user:pass@host:5672/vhost` or `amqps://...`. */
  urls?: string[] | string;
  /** Overrides the vhost in the path of every URL. */
  vhost?: string;
  /**
   * Heartbeat timeout in seconds; 0 turns heartbeats off (the broker then sends none either). Wins over the
   * URL's `heartbeat` parameter, which wins over the default of 300 (the broker's lower proposal, usually
   * 60, is taken when non-zero).
   */
  heartbeat?: number;
  /** How long to wait for the socket and handshake, in milliseconds. Default 10000. */
  connectionTimeout?: number;
  /**
   * How long the broker may keep the connection blocked (connection.blocked, a resource alarm) before the
   * client drops it and reconnects (code `ERR_BLOCKED_TIMEOUT`), in milliseconds. Default 300000.
   */
  blockedConnectionTimeout?: number;
  /** Passed to `tls.connect` for `amqps:` URLs (CA, client certificate...). */
  tls?: TlsConnectionOptions;
  /** Shown in the management UI, to tell connections apart. */
  connectionName?: string;
  /** Default {@link silentLogger}. */
  logger?: Logger;
}

/**
 * {@link ConnectionOptions} after {@link resolveSettings}: defaults filled, environment applied, values
 * checked. Safe to log: util.inspect / console.log / JSON.stringify show `urls` with passwords masked and
 * TLS keys redacted (the fields themselves hold the real values, for connecting).
 */
export interface ResolvedSettings {
  /** At least one; each validated, with the resolved vhost in its path when one was given explicitly. */
  urls: string[];
  /**
   * The vhost connected to: the explicit one (option or `RABBITMQ_VHOST`), else the URLs' (they must agree), else `/`.
   */
  vhost: string;
  /**
   * The heartbeat option, in seconds, or the default of 300 when it was not given (a URL's `heartbeat`
   * parameter then still applies to that URL).
   */
  heartbeat: number;
  /** {@inheritDoc ConnectionOptions.connectionTimeout} */
  connectionTimeout: number;
  /** {@inheritDoc ConnectionOptions.blockedConnectionTimeout} */
  blockedConnectionTimeout: number;
  /** {@inheritDoc ConnectionOptions.tls} */
  tls?: TlsConnectionOptions;
  /** {@inheritDoc ConnectionOptions.connectionName} */
  connectionName?: string;
  /** The logger to write to: the option, or {@link silentLogger}. */
  logger: Logger;
}

/** Invalid connection options or environment. Not recoverable: retrying with the same settings cannot help. */
export class SettingsError extends WarrenError {
  static override readonly kind: string = 'SettingsError';
  constructor(message: string) {
    super(message, { code: 'ERR_SETTINGS_INVALID', recoverable: false });
  }
}

/** Defaults of {@link resolveSettings}; heartbeat follows the original Python module (300 s). */
export const DEFAULT_SETTINGS = Object.freeze({
  heartbeat: 300,
  connectionTimeout: 10_000,
  blockedConnectionTimeout: 300_000,
  host: 'localhost',
  port: 5672,
  user: 'guest',
  password: 'guest',
});

/**
 * Resolves connection settings. Explicit options win over the environment:
 *
 * - URLs: `options.urls`; else `RABBITMQ_URLS` (comma-separated); else `RABBITMQ_URL`; else a URL built
 *   from `RABBITMQ_HOST` (localhost), `RABBITMQ_PORT` (5672), `RABBITMQ_DEFAULT_USER` and
 *   `RABBITMQ_DEFAULT_PASS` (guest/guest).
 * - vhost: `options.vhost`; else `RABBITMQ_VHOST`; else the vhost in the URL path; else `/`. An
 *   explicit vhost (option or variable) replaces the path of every URL.
 *
 * Empty environment variables count as unset, because compose files and CI often define variables
 * with empty values rather than leaving them out.
 *
 * @param env the environment to read; pass an object in tests instead of mutating `process.env`.
 * @throws {SettingsError} on an unusable URL, port or timeout. Messages never contain a password.
 *
 * @example
 * ```ts
 * resolveSettings({ urls: 'amqp://guest:guest@localhost' }, {}).vhost; // '/'
 * resolveSettings({}, { RABBITMQ_HOST: 'mq', RABBITMQ_VHOST: 'app' }).urls; // ['amqp://guest:guest@mq:5672/app']
 * ```
 */
export function resolveSettings(
  options: ConnectionOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): ResolvedSettings {
  const read = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === '' ? undefined : value;
  };

  let urls: string[];
  if (options.urls !== undefined) {
    urls = typeof options.urls === 'string' ? [options.urls] : [...options.urls];
    if (urls.length === 0) throw new SettingsError('urls must not be empty');
    urls.forEach((url, i) => {
      if (typeof url !== 'string') throw new SettingsError(`urls[${i}] must be a string`);
    });
  } else {
    const list = read('RABBITMQ_URLS');
    const single = read('RABBITMQ_URL');
    if (list !== undefined) {
      urls = list
        .split(',')
        .map((u) => u.trim())
        .filter((u) => u !== '');
    } else if (single !== undefined) urls = [single];
    else urls = [urlFromEnv(read)];
    if (urls.length === 0) throw new SettingsError('RABBITMQ_URLS contains no URL');
  }
  const parsed = urls.map(parseAmqpUrl);
  const logger = options.logger ?? silentLogger;
  parsed.forEach((p, i) => {
    // Checked now (a bad value fails the constructor, not the first connect); what sets nothing is said.
    const { ignored } = urlQueryOptions(p, settingsError, { readFiles: false });
    // Without the query: the values of unknown parameters may be secrets (a token).
    const url = redactUrl(urls[i]!).split('?')[0]!;
    for (const what of ignored) {
      logger.warn({ url, parameter: what.split(' ')[0] }, `warren: URL parameter ${what} in ${url} is ignored`);
    }
  });

  const explicitVhost = options.vhost ?? read('RABBITMQ_VHOST');
  let vhost: string;
  if (explicitVhost !== undefined) {
    if (typeof explicitVhost !== 'string' || explicitVhost === '')
      throw new SettingsError('vhost must be a non-empty string');
    vhost = explicitVhost;
    urls = urls.map((url) => withVhost(url, explicitVhost));
  } else {
    const vhosts = parsed.map((p) => p.vhost);
    vhost = vhosts[0] ?? '/';
    // One connection setting cannot serve URLs naming different vhosts; failing over would silently switch vhost.
    const other = vhosts.findIndex((v) => v !== vhost);
    if (other !== -1) {
      throw new SettingsError(
        `urls name different vhosts (${JSON.stringify(vhost)} in ${redactUrl(urls[0] ?? '')}, ${JSON.stringify(vhosts[other])} in ${redactUrl(urls[other] ?? '')}); set the vhost option to choose one`,
      );
    }
  }
  if (Buffer.byteLength(vhost, 'utf8') > 255) throw new SettingsError('vhost must be at most 255 bytes (UTF-8)');

  const settings: ResolvedSettings = {
    urls,
    vhost,
    heartbeat: checkNumber('heartbeat', options.heartbeat, DEFAULT_SETTINGS.heartbeat, 0, 65_535, true),
    connectionTimeout: checkNumber(
      'connectionTimeout',
      options.connectionTimeout,
      DEFAULT_SETTINGS.connectionTimeout,
      1,
      MAX_TIMER_MS,
      false,
    ),
    blockedConnectionTimeout: checkNumber(
      'blockedConnectionTimeout',
      options.blockedConnectionTimeout,
      DEFAULT_SETTINGS.blockedConnectionTimeout,
      0,
      MAX_TIMER_MS,
      false,
    ),
    logger,
  };
  if (options.tls !== undefined) settings.tls = options.tls;
  if (options.connectionName !== undefined) {
    if (typeof options.connectionName !== 'string') throw new SettingsError('connectionName must be a string');
    settings.connectionName = options.connectionName;
  }
  // URLs carry passwords: printed (util.inspect, console.log, JSON.stringify), the settings show them masked.
  return printAs(settings, (s) => ({ ...s, urls: s.urls.map(redactUrl), ...(s.tls ? { tls: redactTls(s.tls) } : {}) }));
}

/** setTimeout overflows above this and fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function checkNumber(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number,
  integer: boolean,
): number {
  if (value === undefined) return fallback;
  const ok = typeof value === 'number' && (integer ? Number.isInteger(value) : Number.isFinite(value));
  if (!ok || value < min || value > max) {
    throw new SettingsError(
      `${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got ${String(value)}`,
    );
  }
  return value;
}

function urlFromEnv(read: (name: string) => string | undefined): string {
  const rawPort = read('RABBITMQ_PORT');
  let port: number = DEFAULT_SETTINGS.port;
  if (rawPort !== undefined) {
    port = Number(rawPort);
    if (!/^\d+$/.test(rawPort) || port < 1 || port > 65_535) {
      throw new SettingsError(`RABBITMQ_PORT must be an integer from 1 to 65535, got ${JSON.stringify(rawPort)}`);
    }
  }
  let host = read('RABBITMQ_HOST') ?? DEFAULT_SETTINGS.host;
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`; // a bare IPv6 address
  const user = encodeURIComponent(read('RABBITMQ_DEFAULT_USER') ?? DEFAULT_SETTINGS.user);
  const password = encodeURIComponent(read('RABBITMQ_DEFAULT_PASS') ?? DEFAULT_SETTINGS.password);
  return `amqp://${user}:${password}@${host}:${port}`;
}

const settingsError = (message: string) => new SettingsError(message);

/** Parses one broker URL (with the library's one parser) and checks it names a host. */
function parseAmqpUrl(url: string): AmqpUrl {
  const parsed = parseUrl(url, settingsError);
  if (parsed.hostname === '') throw new SettingsError(`invalid broker url ${redactUrl(url)}: no host`);
  return parsed;
}

/**
 * Returns `url` with its path replaced by `vhost`, percent-encoded as the AMQP URI spec requires: the
 * default vhost `/` becomes `%2F`, since a literal slash would be read as an empty vhost.
 *
 * @example
 * ```ts
 * withVhost('amqp://guest:guest@localhost:5672/old', '/'); // 'amqp://guest:guest@localhost:5672/%2F'
 * ```
 */
export function withVhost(url: string, vhost: string): string {
  parseAmqpUrl(url);
  return urlWithVhost(url, vhost, settingsError);
}

// The library's one redactor: every URL that becomes text goes through it.
export { redactText, redactUrl };
