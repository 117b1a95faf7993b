import type { Duplex } from 'node:stream';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { WarrenError } from '../protocol/errors.js';
import type { FieldTable } from '../protocol/field-table.js';
import { MIN_FRAME_MAX } from './handshake.js';
import { printAs, redactTls } from './secrets.js';
import { parseUrl, redactUrl, urlQueryOptions } from './url.js';

/**
 * How to reach and talk to a broker. Every field is optional; see {@link DEFAULTS}.
 *
 * @example
 * ```ts
 * const conn = await connect({ hostname: 'rabbit.internal', username: 'app', password: 's3cret', vhost: 'orders', heartbeat: 30 });
 * ```
 */
export interface ConnectOptions {
  /** Host name or IP address of the broker. Default `"localhost"`. */
  hostname?: string;
  /** TCP port of the broker (1..65535). Default 5672, or 5671 with `tls`. */
  port?: number;
  /** User name for PLAIN authentication. Default `"guest"` (which RabbitMQ only accepts from localhost). */
  username?: string;
  /** Password for PLAIN authentication. Default `"guest"`. Masked when the resolved options are printed. */
  password?: string;
  /** Virtual host, default "/". */
  vhost?: string;
  /**
   * Heartbeat timeout in seconds. 0 turns heartbeats off (tune-ok says 0, and RabbitMQ then sends none
   * either); otherwise the lower of this and the broker's proposal, or this when the broker proposes 0.
   * Default 60.
   */
  heartbeat?: number;
  /**
   * Largest frame to propose, in bytes (8192 .. 2^32-1; RabbitMQ 4.1 refuses less than 8192; 0 means no
   * limit from this side). The lower of this and the broker's value is used. Default 131072.
   */
  frameMax?: number;
  /**
   * Most channels to propose (1 .. 65535; 0 means the default). The lower of this and the broker's value is used.
   * Default 2047.
   */
  channelMax?: number;
  /** Milliseconds allowed for the TCP/TLS connect and the AMQP handshake together. Default 10000. */
  connectionTimeout?: number;
  /** `true` or node:tls options to connect over TLS (amqps). */
  tls?: boolean | TlsOptions;
  /** Extra client properties announced to the broker. */
  clientProperties?: FieldTable;
  /** Name shown for this connection in the management UI. */
  connectionName?: string;
  /** SASL mechanism: PLAIN (username/password) or EXTERNAL (TLS client certificate). Default PLAIN. */
  mechanism?: 'PLAIN' | 'EXTERNAL';
  /** An already connected stream to speak AMQP over instead of opening a socket (tests, proxies). */
  stream?: Duplex;
  /** Aborts the connect (socket and handshake): `connect()` rejects with code `ERR_ABORTED`. */
  signal?: AbortSignal;
  /**
   * Longest a consumer's in-order `basicAck` is held, in ms, so that acks of many deliveries go out as
   * one `multiple` ack (0..1000; 0 writes them with the current tick). Held acks always go out at once
   * when half a channel's prefetch window is owed, before any other frame of the channel, and before the
   * channel or connection closes. Default 5.
   */
  ackDelay?: number;
  /**
   * Longest a synchronous method (channel.open, queue.declare, basic.qos, basic.consume, channel.close,
   * connection.update-secret...) waits for the broker's reply, in ms (1..2^31-1). Past it the call rejects
   * with an `RpcTimeoutError` (code `ERR_RPC_TIMEOUT`) and its channel closes. Default 30000.
   */
  rpcTimeoutMs?: number;
}

/** The values used for options that are left out. */
export const DEFAULTS = {
  /** {@link ConnectOptions.hostname}: the local machine. */
  hostname: 'localhost',
  /** {@link ConnectOptions.port} without TLS: the IANA port of AMQP. */
  port: 5672,
  /** {@link ConnectOptions.port} with `tls`: the IANA port of AMQPS. */
  tlsPort: 5671,
  /** {@link ConnectOptions.username}: RabbitMQ's default user (allowed from localhost only by default). */
  username: 'guest',
  /** {@link ConnectOptions.password} of the default user. */
  password: 'guest',
  /** {@link ConnectOptions.vhost}: the default virtual host. */
  vhost: '/',
  /** {@link ConnectOptions.heartbeat}, in seconds (RabbitMQ's own default is 60 too). */
  heartbeat: 60,
  /** {@link ConnectOptions.frameMax}, in bytes: 128 KiB, RabbitMQ's default. */
  frameMax: 131072,
  /** {@link ConnectOptions.channelMax}: RabbitMQ's default channel limit per connection. */
  channelMax: 2047,
  /** {@link ConnectOptions.connectionTimeout}, in ms. */
  connectionTimeout: 10000,
  /** {@link ConnectOptions.mechanism}: username and password. */
  mechanism: 'PLAIN',
  /** {@link ConnectOptions.ackDelay}, in ms. */
  ackDelay: 5,
  /** {@link ConnectOptions.rpcTimeoutMs}, in ms. */
  rpcTimeoutMs: 30_000,
} as const;

/**
 * Options with every default filled in and every range checked (what {@link resolveConnectOptions}
 * returns). Each field means what the {@link ConnectOptions} field of the same name means.
 */
export interface ResolvedConnectOptions {
  /** {@inheritDoc ConnectOptions.hostname} */
  hostname: string;
  /** {@inheritDoc ConnectOptions.port} */
  port: number;
  /** {@inheritDoc ConnectOptions.username} */
  username: string;
  /** {@inheritDoc ConnectOptions.password} */
  password: string;
  /** {@inheritDoc ConnectOptions.vhost} */
  vhost: string;
  /** {@inheritDoc ConnectOptions.heartbeat} */
  heartbeat: number;
  /** Largest frame to propose, in bytes (a `frameMax` of 0 resolves to 2^32-1). */
  frameMax: number;
  /** {@inheritDoc ConnectOptions.channelMax} */
  channelMax: number;
  /** {@inheritDoc ConnectOptions.connectionTimeout} */
  connectionTimeout: number;
  /** The node:tls options to connect with (`{}` for `tls: true`); `undefined` for plain TCP. */
  tls: TlsOptions | undefined;
  /** Extra client properties announced to the broker (`{}` when none were given). */
  clientProperties: FieldTable;
  /** {@inheritDoc ConnectOptions.connectionName} */
  connectionName: string | undefined;
  /** {@inheritDoc ConnectOptions.mechanism} */
  mechanism: 'PLAIN' | 'EXTERNAL';
  /** {@inheritDoc ConnectOptions.stream} */
  stream: Duplex | undefined;
  /** {@inheritDoc ConnectOptions.signal} */
  signal: AbortSignal | undefined;
  /** {@inheritDoc ConnectOptions.ackDelay} */
  ackDelay: number;
  /** {@inheritDoc ConnectOptions.rpcTimeoutMs} */
  rpcTimeoutMs: number;
}

/** An option that is out of range or a URL that cannot be parsed. */
export class ConnectOptionsError extends WarrenError {
  static override readonly kind: string = 'ConnectOptionsError';
  constructor(message: string) {
    super(message, { code: 'ERR_CONNECT_OPTIONS', recoverable: false });
  }
}

/**
 * Masks the password of a URL so it can be logged.
 * @deprecated the same function as {@link redactUrl}, kept under its old name.
 */
export const redactAmqpUrl: (url: string) => string = redactUrl;

const optionsError = (message: string) => new ConnectOptionsError(message);

/**
 * Parses an `amqp://` or `amqps://` URL into options (see {@link parseUrl}, the one URL parser, and
 * its query-parameter reader for the parameters listed below).
 *
 * The path is the percent-decoded vhost (no path, or `/` alone, mean "/"); the query parameters
 * `heartbeat` (0: off), `frame_max`, `channel_max`, `connection_timeout`, `auth_mechanism` and, on
 * `amqps:`, `cacertfile`, `certfile`, `keyfile`, `verify` and `server_name_indication` set the matching
 * options. Parameters that set nothing are ignored here; the client's settings warn about them (by name)
 * through the logger. Errors are `ConnectOptionsError`s whose message never contains the password.
 * @example
 * ```ts
 * parseAmqpUrl('amqp://guest:guest@127.0.0.1:5672/%2F?heartbeat=30'); // { hostname: '127.0.0.1', vhost: '/', heartbeat: 30, ... }
 * ```
 */
export function parseAmqpUrl(url: string): ConnectOptions {
  const u = parseUrl(url, optionsError);
  const out: ConnectOptions = {};
  if (u.hostname) out.hostname = u.hostname;
  if (u.port !== undefined) out.port = u.port;
  if (u.username) out.username = u.username;
  if (u.password !== undefined) out.password = u.password;
  out.vhost = u.vhost;
  const { tls, ignored: _ignored, ...query } = urlQueryOptions(u, optionsError);
  for (const [k, v] of Object.entries(query)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  if (u.tls) out.tls = tls ?? true;
  return out;
}

function checkRange(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConnectOptionsError(`${name} must be an integer ${min}..${max}, got ${value}`);
  }
  return value;
}

/**
 * Resolves a URL or options object into complete, validated options. The result prints (util.inspect,
 * JSON.stringify) with its password and TLS secrets masked.
 */
export function resolveConnectOptions(input: string | ConnectOptions = {}): ResolvedConnectOptions {
  const o = typeof input === 'string' ? parseAmqpUrl(input) : input;
  const tls = o.tls === true ? {} : o.tls === false ? undefined : o.tls;
  // Printed (inspect, JSON) without the password and TLS secrets.
  return printAs(resolveAll(o, tls), (r) => ({ ...r, password: '***', tls: redactTls(r.tls) }));
}

function resolveAll(o: ConnectOptions, tls: TlsOptions | undefined): ResolvedConnectOptions {
  return {
    hostname: o.hostname ?? DEFAULTS.hostname,
    port: checkRange('port', o.port ?? (tls ? DEFAULTS.tlsPort : DEFAULTS.port), 1, 65535),
    username: o.username ?? DEFAULTS.username,
    password: o.password ?? DEFAULTS.password,
    vhost: o.vhost ?? DEFAULTS.vhost,
    heartbeat: checkRange('heartbeat', o.heartbeat ?? DEFAULTS.heartbeat, 0, 65535),
    frameMax:
      o.frameMax === 0
        ? 0xffffffff
        : checkRange('frameMax', o.frameMax ?? DEFAULTS.frameMax, MIN_FRAME_MAX, 0xffffffff),
    channelMax: checkRange('channelMax', o.channelMax || DEFAULTS.channelMax, 1, 65535),
    connectionTimeout: checkRange(
      'connectionTimeout',
      o.connectionTimeout ?? DEFAULTS.connectionTimeout,
      1,
      2 ** 31 - 1,
    ),
    tls,
    clientProperties: o.clientProperties ?? {},
    connectionName: o.connectionName,
    mechanism: o.mechanism ?? DEFAULTS.mechanism,
    stream: o.stream,
    signal: o.signal,
    ackDelay: checkRange('ackDelay', o.ackDelay ?? DEFAULTS.ackDelay, 0, 1000),
    rpcTimeoutMs: checkRange('rpcTimeoutMs', o.rpcTimeoutMs ?? DEFAULTS.rpcTimeoutMs, 1, 2 ** 31 - 1),
  };
}

/** The error a connect aborted through its signal rejects with. */
export function abortError(signal: AbortSignal): WarrenError {
  return new WarrenError('connect aborted', { code: 'ERR_ABORTED', recoverable: false, cause: signal.reason });
}
