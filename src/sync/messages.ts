import { ConfigValidationError } from '../client/config.js';
import { ClientClosedError, InvalidMessageError, PublishTimeoutError, UnroutableError } from '../client/errors.js';
import { SettingsError } from '../client/settings.js';
import {
  ChannelError,
  ConnectionError,
  EncodeError,
  ProtocolError,
  WarrenError,
  type WarrenErrorOptions,
} from '../protocol/errors.js';
import { Decimal, type NumericFieldType, TypedValue } from '../protocol/field-table.js';

/** A call from the blocking facade to the worker. */
export interface SyncRequest {
  id: number;
  op: string;
  args: unknown[];
}

/** The worker's answer to one {@link SyncRequest}. */
export type SyncResponse = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedError };

/** A log line the worker's client wrote, replayed on the caller's logger. */
export interface SyncLogRecord {
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  args: unknown[];
}

/** An error as it crosses the thread boundary: class name plus the WarrenError fields. */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  replyCode?: number;
  replyText?: string;
  classId?: number;
  methodId?: number;
  methodName?: string;
  recoverable?: boolean;
  stack?: string;
  cause?: SerializedError;
  extra?: Record<string, unknown>;
}

export function serializeError(err: unknown, depth = 0): SerializedError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const out: SerializedError = { name: err.name, message: err.message, stack: err.stack };
  if (err instanceof WarrenError) {
    Object.assign(out, {
      code: err.code,
      replyCode: err.replyCode,
      replyText: err.replyText,
      classId: err.classId,
      methodId: err.methodId,
      methodName: err.methodName,
      recoverable: err.recoverable,
    });
  }
  if (err instanceof UnroutableError) out.extra = { exchange: err.exchange, routingKey: err.routingKey };
  if (err instanceof ConfigValidationError) out.extra = { issues: err.issues };
  if (err.cause !== undefined && depth < 5) out.cause = serializeError(err.cause, depth + 1);
  return out;
}

type ErrorClass = new (message: string, options?: WarrenErrorOptions) => WarrenError;

/** Classes whose (message, options) constructor can rebuild them faithfully. */
const GENERIC: Record<string, ErrorClass> = {
  WarrenError,
  ConnectionError,
  ChannelError,
  EncodeError,
};

/** Rebuilds an error thrown in the worker as the same class, so `instanceof` and `code` work for the caller. */
export function deserializeError(e: SerializedError): Error {
  const cause = e.cause ? deserializeError(e.cause) : undefined;
  const options: WarrenErrorOptions = {
    code: e.code,
    replyCode: e.replyCode,
    replyText: e.replyText,
    classId: e.classId,
    methodId: e.methodId,
    methodName: e.methodName,
    recoverable: e.recoverable,
    cause,
  };
  let err: Error;
  const extra = e.extra ?? {};
  switch (e.name) {
    case 'UnroutableError':
      err = new UnroutableError(
        String(extra.exchange),
        String(extra.routingKey),
        e.replyCode ?? 312,
        e.replyText ?? '',
      );
      break;
    case 'ConfigValidationError':
      err = new ConfigValidationError(extra.issues as ConstructorParameters<typeof ConfigValidationError>[0]);
      break;
    case 'ProtocolError':
      err = new ProtocolError(e.replyCode ?? 0, e.message, options);
      break;
    case 'ClientClosedError':
      err = new ClientClosedError(e.message, cause);
      break;
    case 'InvalidMessageError':
      err = new InvalidMessageError(e.message);
      break;
    case 'PublishTimeoutError':
      err = new PublishTimeoutError(e.message);
      break;
    case 'SettingsError':
      err = new SettingsError(e.message);
      break;
    case 'PublishNackedError':
    case 'MessageTooLargeError':
    case 'RetryExhaustedError':
    case 'RetryAbortedError':
      // Their constructors need what only the worker had; the code, fields and name carry over.
      err = new WarrenError(e.message, options);
      Object.defineProperty(err, 'name', { value: e.name });
      break;
    default: {
      const Cls = GENERIC[e.name];
      err = Cls ? new Cls(e.message, options) : Object.assign(new Error(e.message, { cause }), { name: e.name });
    }
  }
  if (e.stack) err.stack = `${e.stack}\n    --- (thrown in the warren sync worker)`;
  // Keep the message exactly as thrown (subclasses may have composed their own).
  Object.defineProperty(err, 'message', { value: e.message, enumerable: false, writable: true, configurable: true });
  return err;
}

const TAG = '__warren_value';

/** Sets `key` as an own property, even `__proto__` (a header name a peer may send), never a prototype. */
function setOwn(out: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Prepares a value for postMessage. Structured clone keeps Buffers (as Uint8Array), Dates and bigints
 * but drops class prototypes, which would turn a Decimal or typed() header into a nested table: tag
 * them so {@link revive} can restore them on the other side. A user's object that has the tag key itself
 * (a header or body may hold anything) is wrapped as `Escaped`, so every tagged object {@link revive} sees
 * was made here and user data can never be read as a Decimal, a typed value or an error.
 */
export function toThread(v: unknown): unknown {
  if (v instanceof Decimal) return { [TAG]: 'Decimal', scale: v.scale, value: v.value };
  if (v instanceof TypedValue) return { [TAG]: 'TypedValue', type: v.type, value: v.value };
  if (Array.isArray(v)) return v.map(toThread);
  if (v instanceof Error) return { [TAG]: 'Error', error: serializeError(v) };
  if (v && typeof v === 'object' && !(v instanceof Uint8Array) && !(v instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) setOwn(out, k, typeof x === 'function' ? undefined : toThread(x));
    return Object.hasOwn(out, TAG) ? { [TAG]: 'Escaped', value: out } : out;
  }
  return typeof v === 'function' ? undefined : v;
}

/** The entries of a plain object, each revived. */
function reviveEntries(v: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) setOwn(out, k, revive(x));
  return out;
}

/** Undoes {@link toThread}, and turns Uint8Arrays back into Buffers (copies of shared memory, never views). */
export function revive(v: unknown): unknown {
  if (v instanceof Uint8Array) {
    // Bytes read out of a shared area are copied: the area is reused by the next call.
    if (v.buffer instanceof SharedArrayBuffer) return Buffer.from(v);
    return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  }
  if (Array.isArray(v)) return v.map(revive);
  if (v && typeof v === 'object' && !(v instanceof Date)) {
    if (!Object.hasOwn(v, TAG)) return reviveEntries(v);
    const tagged = v as Record<string, unknown>;
    switch (tagged[TAG]) {
      case 'Decimal':
        return new Decimal(tagged.scale as number, tagged.value as number);
      case 'TypedValue':
        return new TypedValue(tagged.type as NumericFieldType, tagged.value as number);
      case 'Error':
        return deserializeError(tagged.error as SerializedError);
      case 'Escaped':
        // The user's own object: its tag key is data, its values were prepared one by one.
        return reviveEntries(tagged.value as object);
      default:
        // Not made by toThread (which escapes every user object with the key): plain data.
        return reviveEntries(v);
    }
  }
  return v;
}
