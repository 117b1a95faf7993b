/**
 * The one error hierarchy of warren.
 *
 * Every error warren raises is a {@link WarrenError} with a stable string `code`; errors that come from
 * the protocol carry the AMQP `replyCode` and, where known, the class/method that failed. `instanceof`
 * works across duplicate installs of the package (two copies in one node_modules tree) because it is
 * answered from a brand registered with `Symbol.for`, not from the prototype chain alone.
 *
 * @example
 * ```ts
 * try { await ch.queueDeclare({ queue: 'q', passive: true }); }
 * catch (err) {
 *   if (err instanceof ChannelError && err.replyCode === 404) { ... }
 * }
 * ```
 * @module
 */

const KINDS = Symbol.for('warren.error.kinds');

/** Reply codes that the spec classes as connection ("hard") errors; all others close only a channel. */
const HARD_REPLY_CODES = new Set([320, 402, 501, 502, 503, 504, 505, 506, 530, 540, 541]);

/** Reply codes whose cause is transient: retrying the same thing later may succeed. */
const RECOVERABLE_REPLY_CODES = new Set([311, 313, 320, 405, 504, 506, 541]);

/** Names of the AMQP reply codes, for `code` and messages (kept here so errors need no generated table). */
const REPLY_CODE_NAMES: Readonly<Record<number, string>> = {
  200: 'REPLY_SUCCESS',
  311: 'CONTENT_TOO_LARGE',
  312: 'NO_ROUTE',
  313: 'NO_CONSUMERS',
  320: 'CONNECTION_FORCED',
  402: 'INVALID_PATH',
  403: 'ACCESS_REFUSED',
  404: 'NOT_FOUND',
  405: 'RESOURCE_LOCKED',
  406: 'PRECONDITION_FAILED',
  501: 'FRAME_ERROR',
  502: 'SYNTAX_ERROR',
  503: 'COMMAND_INVALID',
  504: 'CHANNEL_ERROR',
  505: 'UNEXPECTED_FRAME',
  506: 'RESOURCE_ERROR',
  530: 'NOT_ALLOWED',
  540: 'NOT_IMPLEMENTED',
  541: 'INTERNAL_ERROR',
};

/** The symbolic name of an AMQP reply code (`404` → `"NOT_FOUND"`), or `"REPLY_<code>"` if unknown. */
export function replyCodeName(replyCode: number): string {
  return REPLY_CODE_NAMES[replyCode] ?? `REPLY_${replyCode}`;
}

/** True when the spec classes `replyCode` as a connection ("hard") error. */
export function isHardReplyCode(replyCode: number): boolean {
  return HARD_REPLY_CODES.has(replyCode);
}

/** What a {@link WarrenError} may carry besides its message. */
export interface WarrenErrorOptions {
  /** Stable machine-readable code, e.g. `"NOT_FOUND"`, `"ERR_CONNECTION_CLOSED"`. */
  code?: string;
  /** The AMQP reply code, when the error came from (or maps to) the protocol. */
  replyCode?: number;
  /** The AMQP reply text sent by the peer. */
  replyText?: string;
  /** Class id of the method that failed (0 when the peer did not name one). */
  classId?: number;
  /** Method id of the method that failed (0 when the peer did not name one). */
  methodId?: number;
  /** Human name of the failed method, e.g. `"queue.declare"`. */
  methodName?: string;
  /** Whether retrying (reconnecting, reopening) may succeed. Defaults from the reply code. */
  recoverable?: boolean;
  /** The underlying error, kept as the standard `Error.cause`. */
  cause?: unknown;
}

/**
 * Base class of every error warren raises.
 *
 * `code` is stable and meant for programs; `message` is for people and may change.
 */
export class WarrenError extends Error {
  /** Brand of this class, used by `instanceof` across duplicate installs. Subclasses override it. */
  static readonly kind: string = 'WarrenError';

  /**
   * `value instanceof WarrenError` (or any subclass): true when `value` carries this class's brand,
   * so it also holds for errors created by another copy of warren in the same process (two installs
   * in one node_modules tree, or the CJS and ESM builds side by side). Objects without a brand fall
   * back to the ordinary prototype check.
   */
  // `this` is the class `instanceof` was asked about (a subclass too), which is the point here.
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (value === null || typeof value !== 'object') return false;
    const kinds = (value as { [KINDS]?: unknown })[KINDS];
    // biome-ignore lint/complexity/noThisInStatic: must resolve to the subclass being tested
    if (Array.isArray(kinds)) return kinds.includes(this.kind);
    // biome-ignore lint/complexity/noThisInStatic: plain prototype check for the class being tested
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }

  /**
   * Stable, machine-readable code: the symbolic name of the AMQP reply code for protocol errors
   * (`"NOT_FOUND"`, `"PRECONDITION_FAILED"`, `"ACCESS_REFUSED"`...), otherwise an `ERR_*` code naming the
   * failure (`"ERR_CONNECTION_CLOSED"`, `"ERR_RPC_TIMEOUT"`, `"ERR_HANDLER_FAILED"`...). Each subclass
   * documents the codes it uses. `"ERR_WARREN"` when nothing more specific was given. Match on this, not
   * on `message`.
   */
  readonly code: string;
  /**
   * The AMQP reply code (e.g. `404` NOT_FOUND, `406` PRECONDITION_FAILED, `320` CONNECTION_FORCED) when
   * the error came from a `connection.close` / `channel.close` sent by the broker or maps to one (see
   * {@link ReplyCode}); `undefined` for failures that have no reply code (socket errors, timeouts,
   * client-side validation).
   */
  readonly replyCode: number | undefined;
  /**
   * The reply text the broker sent with `replyCode` (e.g. `"NOT_FOUND - no queue 'q' in vhost '/'"`); `undefined` when
   * the broker sent none.
   */
  readonly replyText: string | undefined;
  /**
   * AMQP class id of the method the broker's close names as the cause (`50` queue, `40` exchange, `60`
   * basic...); `0` when the broker named none, `undefined` when the error did not come from a close.
   */
  readonly classId: number | undefined;
  /**
   * AMQP method id (within `classId`) of the method the broker's close names as the cause; `0` when it named none,
   * `undefined` when the error did not come from a close.
   */
  readonly methodId: number | undefined;
  /**
   * Dotted name of the AMQP method that failed or timed out, e.g. `"queue.declare"`, `"basic.qos"`; `undefined` when
   * unknown.
   */
  readonly methodName: string | undefined;
  /**
   * Whether trying again later (reconnecting, reopening the channel, resending) may succeed. Transient
   * causes are recoverable (a forced close, a resource lock or a broker internal error, a lost socket, a
   * timeout); mistakes that would fail the same way again are not (access refused, precondition failed,
   * not found, invalid options). When not set explicitly it defaults from `replyCode` (311, 313, 320, 405,
   * 504, 506 and 541 are recoverable) and is `false` without one. warren's own reconnect and retry logic
   * consults it.
   */
  readonly recoverable: boolean;
  /** @internal The brands of this error's class and its ancestors, answered by `[Symbol.hasInstance]`. */
  declare readonly [KINDS]: readonly string[];

  constructor(message: string, options: WarrenErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    const kinds: string[] = [];
    for (let c = new.target as unknown; typeof c === 'function' && c !== Error; c = Object.getPrototypeOf(c)) {
      const kind = (c as { kind?: string }).kind;
      if (kind !== undefined && !kinds.includes(kind)) kinds.push(kind);
    }
    Object.defineProperty(this, KINDS, { value: Object.freeze(kinds), enumerable: false });
    Object.defineProperty(this, 'name', { value: new.target.name, enumerable: false, configurable: true });
    this.replyCode = options.replyCode;
    this.replyText = options.replyText;
    this.classId = options.classId;
    this.methodId = options.methodId;
    this.methodName = options.methodName;
    this.code = options.code ?? (options.replyCode !== undefined ? replyCodeName(options.replyCode) : 'ERR_WARREN');
    this.recoverable =
      options.recoverable ?? (options.replyCode !== undefined && RECOVERABLE_REPLY_CODES.has(options.replyCode));
  }
}

/**
 * Malformed or out-of-order input on the wire (or an attempt to encode something the protocol cannot
 * carry). Carries the reply code the spec assigns: 501 frame-error, 502 syntax-error, 503
 * command-invalid, 505 unexpected-frame, 540 not-implemented.
 */
export class ProtocolError extends WarrenError {
  static override readonly kind: string = 'ProtocolError';
  constructor(replyCode: number, message: string, options: Omit<WarrenErrorOptions, 'replyCode'> = {}) {
    super(message, { recoverable: false, ...options, replyCode });
  }
}

/** A value that cannot be encoded (a shortstr over 255 bytes, an unsupported table value...). */
export class EncodeError extends WarrenError {
  static override readonly kind: string = 'EncodeError';
  constructor(message: string, options: WarrenErrorOptions = {}) {
    super(message, { code: 'ERR_ENCODE', recoverable: false, ...options });
  }
}

/**
 * The connection failed or was closed: by the broker (connection.close with a reply code), by a socket
 * error, a heartbeat timeout, or a failed handshake. Every channel of the connection fails with it.
 */
export class ConnectionError extends WarrenError {
  static override readonly kind: string = 'ConnectionError';
  constructor(message: string, options: WarrenErrorOptions = {}) {
    super(message, { code: 'ERR_CONNECTION_CLOSED', recoverable: true, ...options });
  }

  /**
   * The same failure as seen by something that lived on the connection (a channel, a call): same class
   * and fields, `message` in its words, this error as `cause`.
   * @internal
   */
  seenBy(message: string): ConnectionError {
    const Kind = this.constructor as typeof ConnectionError;
    return new Kind(message, this.fields());
  }

  /** @internal The fields a copy of this error keeps. */
  protected fields(): WarrenErrorOptions {
    return {
      code: this.code,
      replyCode: this.replyCode,
      replyText: this.replyText,
      classId: this.classId,
      methodId: this.methodId,
      methodName: this.methodName,
      recoverable: this.recoverable,
      cause: this,
    };
  }
}

/**
 * A channel was closed: by a channel exception from the broker (404, 406, 403...), by the client, or
 * because its connection closed. Only that channel is affected unless `cause` is a ConnectionError.
 */
export class ChannelError extends WarrenError {
  static override readonly kind: string = 'ChannelError';
  constructor(message: string, options: WarrenErrorOptions = {}) {
    super(message, { code: 'ERR_CHANNEL_CLOSED', ...options });
  }
}

/**
 * A synchronous method (queue.declare, basic.consume, channel.close...) got no answer within the
 * `rpcTimeoutMs` connect option. The channel it was sent on is closed with this error: a reply that comes
 * later could otherwise be taken for the answer to a later call. `methodName` names the method.
 */
export class RpcTimeoutError extends ChannelError {
  static override readonly kind: string = 'RpcTimeoutError';
  /** How long the call waited, in ms. */
  readonly timeoutMs: number;
  constructor(methodName: string, timeoutMs: number, where: string) {
    super(`${methodName} on ${where} got no reply within ${timeoutMs} ms (rpcTimeoutMs)`, {
      code: 'ERR_RPC_TIMEOUT',
      methodName,
      recoverable: true,
    });
    this.timeoutMs = timeoutMs;
  }
}

/**
 * Content the decoder could not turn into properties (a content header it refuses). Only the one message
 * is affected: it arrives with its raw body and `decodeError` set (see `Delivery.decodeError`) instead of
 * the connection closing. `code` is `ERR_DECODE_PROPERTIES`.
 */
export class DecodeError extends WarrenError {
  static override readonly kind: string = 'DecodeError';
  constructor(message: string, options: WarrenErrorOptions = {}) {
    super(message, { code: 'ERR_DECODE_PROPERTIES', recoverable: false, ...options });
  }
}

/**
 * The connection was given up on because `close()` (or a failure) did not finish within its deadline:
 * every operation still pending (channel calls, publisher confirms, drain waits) fails with this.
 * `code` is `ERR_CLOSE_TIMEOUT`.
 */
export class CloseTimeoutError extends ConnectionError {
  static override readonly kind: string = 'CloseTimeoutError';
  constructor(message: string, options: WarrenErrorOptions = {}) {
    super(message, { code: 'ERR_CLOSE_TIMEOUT', recoverable: true, ...options });
  }
}

/**
 * The broker refused a deprecated feature it is configured to deny (RabbitMQ 4.x
 * `deprecated_features.permit.<feature> = false`, the default for some features from 4.3 on), e.g.
 * `transient_nonexcl_queues` for a queue that is neither durable nor exclusive. RabbitMQ closes the
 * connection with 541 INTERNAL_ERROR. Code `ERR_DEPRECATED_FEATURE`; not recoverable: the same request
 * is refused every time, so reconnecting cannot help.
 */
export class DeprecatedFeatureError extends ConnectionError {
  static override readonly kind: string = 'DeprecatedFeatureError';
  /** The broker's name of the feature, e.g. `transient_nonexcl_queues`, `global_qos`. */
  readonly feature: string;
  constructor(message: string, feature: string, options: WarrenErrorOptions = {}) {
    super(message, { ...options, code: 'ERR_DEPRECATED_FEATURE', recoverable: false });
    this.feature = feature;
  }

  override seenBy(message: string): DeprecatedFeatureError {
    return new DeprecatedFeatureError(message, this.feature, this.fields());
  }
}

/** The deprecated feature a broker's reply text names (RabbitMQ 4: "Feature `x` is deprecated."), if any. */
export function deprecatedFeatureOf(replyText: string): string | undefined {
  return /Feature `([\w.-]+)` is deprecated/.exec(replyText)?.[1];
}

/** Builds the error for a `connection.close` or `channel.close` received from the broker. */
export function errorFromClose(
  scope: 'connection' | 'channel',
  close: { replyCode: number; replyText: string; classId: number; methodId: number },
  methodName: string | undefined,
): ConnectionError | ChannelError {
  const where = methodName ? ` (on ${methodName})` : '';
  const message = `${scope} closed by the broker: ${close.replyCode} ${replyCodeName(close.replyCode)} - ${close.replyText}${where}`;
  const options: WarrenErrorOptions = {
    replyCode: close.replyCode,
    replyText: close.replyText,
    classId: close.classId,
    methodId: close.methodId,
    methodName,
    code: replyCodeName(close.replyCode),
    recoverable: RECOVERABLE_REPLY_CODES.has(close.replyCode) || close.replyCode === 200,
  };
  if (scope === 'connection') {
    const feature = close.replyCode === 541 ? deprecatedFeatureOf(close.replyText) : undefined;
    if (feature !== undefined) return new DeprecatedFeatureError(message, feature, options);
    return new ConnectionError(message, options);
  }
  return new ChannelError(message, options);
}
