/**
 * The one parser and the one redactor of broker URLs, for the whole library (the engine's connect options
 * and the client's settings both go through here), so that no two places disagree on what a URL means or
 * on which part of it is secret.
 * @module
 */
import { readFileSync } from 'node:fs';

/** What an `amqp://` / `amqps://` URL says; `undefined` where it says nothing. */
export interface AmqpUrl {
  /** `amqps:`. */
  tls: boolean;
  /** Without IPv6 brackets; `''` when the URL names no host. */
  hostname: string;
  /** The port the URL names; `undefined` when it names none (the caller picks 5672, or 5671 for `amqps:`). */
  port: number | undefined;
  /** Percent-decoded. */
  username: string | undefined;
  /** Percent-decoded; `''` for `amqp://user:@host`. */
  password: string | undefined;
  /** Percent-decoded vhost; `/` for an empty path or a bare `/` (as other clients read it). */
  vhost: string;
  /** The query parameters (`heartbeat=30`...). */
  params: URLSearchParams;
}

/** Builds the error to throw; its message is already redacted. */
export type UrlErrorFactory = (message: string) => Error;

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/**
 * Parses a broker URL. Every error is made by `fail` with a message that names the URL with its password
 * masked ({@link redactUrl}) and says what is wrong.
 *
 * @example
 * ```ts
 * parseUrl('amqps://app:s3cret@mq:5671/prod?heartbeat=5', (m) => new Error(m));
 * // { tls: true, hostname: 'mq', port: 5671, username: 'app', password: 's3cret', vhost: 'prod', params }
 * ```
 */
export function parseUrl(url: string, fail: UrlErrorFactory): AmqpUrl {
  if (typeof url !== 'string') throw fail(`a broker URL must be a string, got ${typeof url}`);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    const hint = /^[^@]*:\/\/[^@/?#]*:[^@]*[/?#][^@]*@/.test(url)
      ? ' (a password containing /, ? or # must be percent-encoded)'
      : '';
    throw fail(`invalid broker url ${redactUrl(url)}: not a URL${hint}`);
  }
  if (u.protocol !== 'amqp:' && u.protocol !== 'amqps:') {
    throw fail(`invalid broker url ${redactUrl(url)}: the protocol must be amqp: or amqps:`);
  }
  const decode = (part: string, what: string): string => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw fail(`invalid broker url ${redactUrl(url)}: the ${what} is not valid percent-encoding`);
    }
  };
  // WHATWG URL drops an empty password; `user:@host` says it is empty, which is not the same as absent.
  const authority = SCHEME.exec(url) ? url.slice(url.indexOf('//') + 2).split(/[/?#]/, 1)[0]! : '';
  const userinfo = authority.includes('@') ? authority.slice(0, authority.lastIndexOf('@')) : undefined;
  const path = u.pathname;
  return {
    tls: u.protocol === 'amqps:',
    hostname: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port === '' ? undefined : Number(u.port),
    username: userinfo === undefined ? undefined : decode(u.username, 'username'),
    password: userinfo?.includes(':') ? decode(u.password, 'password') : undefined,
    vhost: path === '' || path === '/' ? '/' : decode(path.slice(1), 'vhost'),
    params: u.searchParams,
  };
}

/**
 * Returns `url` with its path replaced by `vhost`, percent-encoded as the AMQP URI spec requires (the
 * default vhost `/` becomes `%2F`, since a literal slash would be read as an empty vhost).
 */
export function urlWithVhost(url: string, vhost: string, fail: UrlErrorFactory): string {
  parseUrl(url, fail);
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(vhost)}`;
  return u.href;
}

/**
 * Returns `url` with its password replaced by `***`, for logs and error messages. Works on any scheme and
 * on strings that are not valid URLs (they are what end up in error messages), erring on the side of hiding
 * more: the credentials end at the last `@`, and when what precedes it could not be credentials alone (it
 * holds a `/`, `?` or `#`, as an unencoded password may), everything before the host is hidden.
 *
 * @example
 * ```ts
 * redactUrl('amqp://app:s3cret@mq:5672/prod'); // 'amqp://app:***@mq:5672/prod'
 * redactUrl('amqp://app:s3cr/et@mq/');          // 'amqp://***@mq/'
 * ```
 */
export function redactUrl(url: string): string {
  const scheme = SCHEME.exec(url);
  if (scheme === null) return url;
  const start = scheme[0].length;
  const at = url.lastIndexOf('@');
  if (at < start) return url;
  const userinfo = url.slice(start, at);
  if (/[/?#\s]/.test(userinfo)) return `${scheme[0]}***${url.slice(at)}`;
  const colon = userinfo.indexOf(':');
  if (colon === -1) return url; // a user name alone is not a secret
  return `${scheme[0]}${userinfo.slice(0, colon)}:***${url.slice(at)}`;
}

/** Applies {@link redactUrl} to every URL (any scheme) inside free text, such as an error message to be logged. */
export function redactText(text: string): string {
  return text.replace(/[A-Za-z][A-Za-z0-9+.-]*:\/\/\S*/g, redactUrl);
}

/** TLS settings a URL's query asks for (RabbitMQ URI spec names), as `node:tls` options. */
export interface UrlTlsOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized?: boolean;
  servername?: string;
}

/** What a URL's query parameters set (each `undefined` when the URL does not say). */
export interface UrlQueryOptions {
  heartbeat?: number;
  frameMax?: number;
  channelMax?: number;
  connectionTimeout?: number;
  mechanism?: 'PLAIN' | 'EXTERNAL';
  /** Set when a TLS parameter was given on an `amqps:` URL. */
  tls?: UrlTlsOptions;
  /**
   * Parameters that set nothing: unknown names, and TLS parameters on an `amqp:` URL. Each says what is
   * wrong by the parameter's name, never its value (a query can carry a token).
   */
  ignored: string[];
}

const NUMERIC_PARAMS: Record<string, 'heartbeat' | 'frameMax' | 'channelMax' | 'connectionTimeout'> = {
  heartbeat: 'heartbeat',
  frame_max: 'frameMax',
  frameMax: 'frameMax',
  channel_max: 'channelMax',
  channelMax: 'channelMax',
  connection_timeout: 'connectionTimeout',
  connectionTimeout: 'connectionTimeout',
};
const TLS_FILES: Record<string, 'ca' | 'cert' | 'key'> = { cacertfile: 'ca', certfile: 'cert', keyfile: 'key' };
/** Known, and meaningless for a client: accepted without effect (amqplib's `locale`: only en_US exists). */
const NO_EFFECT = new Set(['locale']);

/**
 * Reads the query parameters of a parsed URL (amqplib's and the RabbitMQ URI spec's names): `heartbeat`,
 * `frame_max`/`frameMax`, `channel_max`/`channelMax`, `connection_timeout`, `auth_mechanism`
 * (`plain`/`external`), and on `amqps:` the TLS ones: `cacertfile`, `certfile`, `keyfile` (read now, so a
 * reconnect picks up a rotated certificate), `verify` (`verify_peer`/`verify_none`) and
 * `server_name_indication` (a host name, or `disable`). With `readFiles: false` the files are not read
 * (validation only). Bad values throw through `fail`, naming the parameter.
 *
 * @example
 * ```ts
 * urlQueryOptions(parseUrl('amqps://mq/?heartbeat=0&verify=verify_none', fail), fail);
 * // { heartbeat: 0, tls: { rejectUnauthorized: false }, ignored: [] }
 * ```
 */
export function urlQueryOptions(
  u: AmqpUrl,
  fail: UrlErrorFactory,
  { readFiles = true }: { readFiles?: boolean } = {},
): UrlQueryOptions {
  const out: UrlQueryOptions = { ignored: [] };
  const tls: UrlTlsOptions = {};
  let anyTls = false;
  const tlsParam = (key: string): boolean => {
    if (u.tls) {
      anyTls = true;
      return true;
    }
    out.ignored.push(`${key} (a TLS parameter on an amqp: URL, not amqps:)`);
    return false;
  };
  for (const [key, value] of u.params) {
    const numeric = NUMERIC_PARAMS[key];
    if (numeric !== undefined) {
      const n = Number(value);
      if (value === '' || !Number.isInteger(n) || n < 0) {
        throw fail(`URL parameter ${key} must be a non-negative integer, got ${JSON.stringify(value)}`);
      }
      out[numeric] = n;
    } else if (key === 'auth_mechanism') {
      const m = value.toUpperCase();
      if (m !== 'PLAIN' && m !== 'EXTERNAL') {
        throw fail(`URL parameter auth_mechanism must be plain or external, got ${JSON.stringify(value)}`);
      }
      out.mechanism ??= m; // the URI spec allows several, in order of preference
    } else if (key in TLS_FILES) {
      if (!tlsParam(key) || !readFiles) continue;
      try {
        tls[TLS_FILES[key]!] = readFileSync(value);
      } catch (err) {
        throw fail(`URL parameter ${key}: cannot read ${value}: ${(err as NodeJS.ErrnoException).code ?? err}`);
      }
    } else if (key === 'verify') {
      if (value !== 'verify_peer' && value !== 'verify_none') {
        throw fail(`URL parameter verify must be verify_peer or verify_none, got ${JSON.stringify(value)}`);
      }
      if (tlsParam(key)) tls.rejectUnauthorized = value === 'verify_peer';
    } else if (key === 'server_name_indication') {
      // 'disable': no SNI; node:tls sends none for an empty servername.
      if (tlsParam(key)) tls.servername = value === 'disable' ? '' : value;
    } else if (!NO_EFFECT.has(key)) {
      out.ignored.push(`${key} (unknown)`);
    }
  }
  if (anyTls) out.tls = tls;
  return out;
}
