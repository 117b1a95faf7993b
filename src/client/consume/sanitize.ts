/**
 * Copies of a delivery (to a retry queue or the dead-letter target) must be publishable whatever another
 * client put in the original: a header the encoder refuses (a timestamp beyond what a Date holds, a
 * non-finite number RabbitMQ would close the connection on) or an invalid timestamp property (an invalid
 * Date set by hand: one read from the wire is a RawTimestamp and is kept). Such values
 * are removed, and the copy says which in {@link REMOVED_HEADER}, so that the copy reaches its target
 * instead of being requeued forever.
 * @module
 */
import { type FieldTable, type FieldValue, TypedValue, writeTable } from '../../protocol/field-table.js';
import { RawTimestamp } from '../../protocol/timestamp.js';
import { BufferWriter } from '../../protocol/writer.js';

/** Names what was removed from a copy because it could not be published again (comma separated). */
export const REMOVED_HEADER = 'x-warren-removed';

/** What {@link sanitizeCopy} returns. */
export interface SanitizedCopy {
  headers: FieldTable;
  timestamp: Date | undefined;
  /** Header names (and `timestamp`, for the property) that were removed. */
  removed: string[];
}

/** Removes from `headers` and `timestamp` whatever cannot be published again; records it in {@link REMOVED_HEADER}. */
export function sanitizeCopy(headers: FieldTable, timestamp: Date | undefined): SanitizedCopy {
  const out: Record<string, FieldValue> = {};
  const removed: string[] = [];
  for (const [key, value] of Object.entries(headers)) {
    if (publishable(key, value)) out[key] = value;
    else removed.push(key);
  }
  let ts = timestamp;
  // A RawTimestamp (seconds beyond what a Date holds, as another client sent them) is written back
  // byte-exact; dates before 1970 are negative seconds, which the engine writes too.
  if (ts !== undefined && !(ts instanceof RawTimestamp || (ts instanceof Date && Number.isFinite(ts.getTime())))) {
    ts = undefined;
    removed.push('timestamp');
  }
  if (removed.length > 0) out[REMOVED_HEADER] = removed.join(', ').slice(0, 1000);
  return { headers: out, timestamp: ts, removed };
}

function publishable(key: string, value: FieldValue): boolean {
  if (!finite(value, 0)) return false;
  try {
    writeTable(new BufferWriter(64), { [key]: value }, 'headers');
    return true;
  } catch {
    return false;
  }
}

/** RabbitMQ closes the connection on non-finite numbers in headers, so the client refuses them. */
function finite(value: unknown, depth: number): boolean {
  if (depth > 64) return true; // the encoder refuses deeper nesting itself
  const n = value instanceof TypedValue ? value.value : value;
  if (typeof n === 'number') return Number.isFinite(n);
  if (Array.isArray(value)) return value.every((v) => finite(v, depth + 1));
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.values(value).every((v) => finite(v, depth + 1));
  }
  return true;
}
