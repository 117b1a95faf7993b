/**
 * How RPC payloads travel: bytes as they are, strings as text/plain, anything else as JSON; and the error
 * reply of a server whose handler failed.
 * @module
 */
import { WarrenError } from '../../protocol/errors.js';
import type { FieldTable } from '../../protocol/field-table.js';
import { ConsumerOptionsError, errorText, HandlerTimeoutError } from '../consume/errors.js';
import { decodePayload, ERROR_CODE_HEADER, ERROR_HEADER, headerErrorText, type Schema } from '../consume/message.js';
import type { RpcPayload } from './types.js';

export function errorReply(err: unknown): { body: Buffer; contentType: string; headers: FieldTable } {
  const message = headerErrorText(err);
  const headers: FieldTable = { [ERROR_HEADER]: message };
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') headers[ERROR_CODE_HEADER] = code;
  return { body: Buffer.from(JSON.stringify({ error: message })), contentType: 'application/json', headers };
}

export function isJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return type === 'application/json' || type.endsWith('+json');
}

function isText(contentType: string | undefined): boolean {
  return contentType?.trim().toLowerCase().startsWith('text/') ?? false;
}

/** A payload as bytes and the content type that says how to read them. */
export function encodePayload(payload: RpcPayload): { body: Buffer; contentType: string | undefined } {
  if (Buffer.isBuffer(payload)) return { body: payload, contentType: undefined };
  if (payload instanceof Uint8Array) {
    return { body: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), contentType: undefined };
  }
  if (typeof payload === 'string') return { body: Buffer.from(payload, 'utf8'), contentType: 'text/plain' };
  if (
    payload === undefined ||
    typeof payload === 'function' ||
    typeof payload === 'symbol' ||
    typeof payload === 'bigint' ||
    (typeof payload === 'number' && !Number.isFinite(payload))
  ) {
    throw new ConsumerOptionsError(
      `rpc: payload must be bytes, a string or a JSON value, got ${typeof payload === 'number' ? String(payload) : typeof payload}`,
    );
  }
  return { body: Buffer.from(JSON.stringify(payload), 'utf8'), contentType: 'application/json' };
}

export function encodeReply(
  result: unknown,
  requestWasJson: boolean,
): { body: Buffer; contentType: string | undefined } {
  if (Buffer.isBuffer(result) || result instanceof Uint8Array) return encodePayload(result);
  if (typeof result === 'string' && !requestWasJson) return encodePayload(result);
  const text = JSON.stringify(result === undefined ? null : result);
  return { body: Buffer.from(text, 'utf8'), contentType: 'application/json' };
}

/** A message body decoded by its content type: JSON, text, or the bytes. */
export function decodeBody(body: Buffer, contentType: string | undefined): unknown {
  if (isJson(contentType)) return JSON.parse(body.toString('utf8'));
  if (isText(contentType)) return body.toString('utf8');
  return body;
}

export async function decodeRequest<Req>(
  body: Buffer,
  contentType: string | undefined,
  schema: Schema<Req> | undefined,
): Promise<Req> {
  if (schema === undefined) {
    try {
      return decodeBody(body, contentType) as Req;
    } catch (err) {
      throw new WarrenError(`invalid JSON request: ${errorText(err)}`, { code: 'ERR_MESSAGE_DECODE', cause: err });
    }
  }
  const decoded = await decodePayload(body, true, schema);
  if (!decoded.ok) throw new WarrenError(decoded.error, { code: 'ERR_MESSAGE_DECODE', cause: decoded.cause });
  return decoded.value;
}

export async function withTimeout<T>(fn: () => Promise<T>, timeoutMs: number | undefined): Promise<T> {
  if (timeoutMs === undefined) return fn();
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new HandlerTimeoutError(timeoutMs)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
