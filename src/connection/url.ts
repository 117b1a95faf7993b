/**
 * The one parser and the one redactor of broker URLs, for the whole library (the engine's connect options
 * and the client's settings both go through here), so that no two places disagree on what a URL means or
 * on which part of it is secret.
 * @module
 */

/** What an `amqp://` / `amqps://` URL says; `undefined` where it says nothing. */
export interface AmqpUrl {
  /** `amqps:`. */
  tls: boolean;
  /** Without IPv6 brackets; `''` when the URL names no host. */
  hostname: string;
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
