/**
 * `warren publish`: one message, the same message `--count` times, or one message per NDJSON line (from
 * stdin or `--file`), at most `--rate` a second, each confirmed by the broker. A progress bar on a
 * terminal; a final line `sent N, confirmed N, returned N, nacked N`.
 */
import { readFileSync } from 'node:fs';
import {
  type FieldTable,
  type MessageBody,
  type PublishMessageOptions,
  PublishNackedError,
  UnroutableError,
  WarrenError,
} from '../index.js';
import { type ConnectOptions, client, withClient } from './client.js';
import type { CliIO } from './io.js';
import { Progress, progressLine } from './render.js';
import { UsageError } from './usage.js';

/** Options of `warren publish`. */
export interface PublishCliOptions extends ConnectOptions {
  exchange?: string | undefined;
  header: string[];
  contentType?: string | undefined;
  /** The body (or each NDJSON body given as a string) is JSON: sent as application/json. */
  json: boolean;
  persistent: boolean;
  mandatory: boolean;
  count?: number | undefined;
  rate?: number | undefined;
  ndjson: boolean;
  file?: string | undefined;
}

/** One message to send. */
export interface OutgoingCliMessage {
  routingKey: string;
  body: MessageBody;
  options: PublishMessageOptions;
}

/** Most messages written ahead of their confirms: enough to keep the broker busy, bounded in memory. */
const WINDOW = 1000;

/** Properties an NDJSON line may set (what `warren get` prints, so its output can be published again). */
const PROPERTY_KEYS = new Set([
  'contentType',
  'contentEncoding',
  'headers',
  'deliveryMode',
  'priority',
  'correlationId',
  'replyTo',
  'expiration',
  'messageId',
  'timestamp',
  'type',
  'userId',
  'appId',
]);
const LINE_KEYS = new Set(['body', 'bodyBase64', 'routingKey', 'exchange', 'properties', 'redelivered']);

function headers(pairs: string[]): Record<string, string> | undefined {
  if (pairs.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--header must be key=value, got ${JSON.stringify(pair)}`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

function baseOptions(o: PublishCliOptions): PublishMessageOptions {
  const options: PublishMessageOptions = { persistent: o.persistent, mandatory: o.mandatory };
  if (o.exchange !== undefined) options.exchange = o.exchange;
  if (o.contentType !== undefined) options.contentType = o.contentType;
  const h = headers(o.header);
  if (h) options.headers = h;
  return options;
}

function parseJsonBody(raw: Buffer): MessageBody {
  try {
    return JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(`--json: the body is not valid JSON: ${(err as Error).message}`);
  }
}

/** The properties of one NDJSON line, checked: `line N: properties.x ...` names what is wrong. */
function lineProperties(where: string, p: unknown, base: PublishMessageOptions): PublishMessageOptions {
  if (p === undefined) return { ...base };
  if (p === null || typeof p !== 'object' || Array.isArray(p))
    throw new UsageError(`${where}: properties must be an object`);
  const out: PublishMessageOptions = { ...base };
  for (const [k, v] of Object.entries(p as Record<string, unknown>)) {
    if (!PROPERTY_KEYS.has(k)) throw new UsageError(`${where}: unknown property ${JSON.stringify(k)}`);
    if (v === undefined || v === null) continue;
    if (k === 'deliveryMode') out.persistent = v !== 1;
    else if (k === 'timestamp') out.timestamp = new Date(v as string);
    else if (k === 'headers') out.headers = { ...base.headers, ...(v as FieldTable) };
    else (out as Record<string, unknown>)[k] = v;
  }
  return out;
}

/** Parses NDJSON: each line an envelope `{ body | bodyBase64, routingKey?, exchange?, properties? }` or a bare JSON body. */
export function parseNdjson(text: string, routingKey: string | undefined, o: PublishCliOptions): OutgoingCliMessage[] {
  const base = baseOptions(o);
  const out: OutgoingCliMessage[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const where = `line ${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new UsageError(`${where}: not valid JSON: ${(err as Error).message}`);
    }
    const envelope =
      value !== null &&
      typeof value === 'object' &&
      !Array.isArray(value) &&
      ('body' in value || 'bodyBase64' in value);
    if (!envelope) {
      if (routingKey === undefined)
        throw new UsageError(`${where}: no routing key (give one, or use {"routingKey", "body"})`);
      out.push({ routingKey, body: value as MessageBody, options: { ...base } });
      return;
    }
    const e = value as Record<string, unknown>;
    for (const k of Object.keys(e))
      if (!LINE_KEYS.has(k)) throw new UsageError(`${where}: unknown field ${JSON.stringify(k)}`);
    const key = routingKey ?? e.routingKey;
    if (typeof key !== 'string')
      throw new UsageError(`${where}: no routing key (give one, or use {"routingKey", "body"})`);
    const options = lineProperties(where, e.properties, base);
    if (routingKey === undefined && typeof e.exchange === 'string' && o.exchange === undefined)
      options.exchange = e.exchange;
    let body: MessageBody;
    if (typeof e.bodyBase64 === 'string') body = Buffer.from(e.bodyBase64, 'base64');
    else if (typeof e.body === 'string' && o.json) body = parseJsonBody(Buffer.from(e.body));
    else if (typeof e.body === 'string' || (e.body !== null && typeof e.body === 'object'))
      body = e.body as MessageBody;
    else throw new UsageError(`${where}: body must be a string, an object or an array`);
    out.push({ routingKey: key, body, options });
  });
  if (out.length === 0) throw new UsageError('no messages: the input has no NDJSON lines');
  return out;
}

/** What `publish` will send, from its arguments, `--file` or stdin. */
export async function messagesToPublish(
  routingKey: string | undefined,
  body: string | undefined,
  o: PublishCliOptions,
  io: CliIO,
): Promise<{ messages: OutgoingCliMessage[]; repeat: number }> {
  if (body !== undefined && o.file !== undefined) throw new UsageError('give the body or --file, not both');
  if (o.ndjson && o.count !== undefined)
    throw new UsageError('--count repeats one body: it cannot be used with --ndjson');
  let raw: Buffer;
  if (body !== undefined) raw = Buffer.from(body);
  else if (o.file !== undefined) {
    try {
      raw = readFileSync(o.file);
    } catch (err) {
      throw new UsageError(`cannot read ${o.file}: ${(err as Error).message}`);
    }
  } else if (io.stdinIsTTY) {
    throw new UsageError('no body: give it as an argument, with --file, or pipe it on stdin (stdin is a terminal)');
  } else raw = await io.stdin();
  if (o.ndjson) return { messages: parseNdjson(raw.toString('utf8'), routingKey, o), repeat: 1 };
  if (routingKey === undefined) throw new UsageError('publish needs a routing key');
  const message = o.json ? parseJsonBody(raw) : raw;
  return { messages: [{ routingKey, body: message, options: baseOptions(o) }], repeat: o.count ?? 1 };
}

function withoutMessageId(o: PublishMessageOptions): PublishMessageOptions {
  const { messageId: _, ...rest } = o;
  return rest;
}

/** Tallies of a publish run; `firstError` is printed once, not per message. */
export interface PublishTally {
  sent: number;
  confirmed: number;
  returned: number;
  nacked: number;
  failed: number;
  firstError: unknown;
}

/** `warren publish`: sends every message (windowed, rate-limited), counts the outcomes. Returns the exit code. */
export async function publish(
  routingKey: string | undefined,
  body: string | undefined,
  o: PublishCliOptions,
  io: CliIO,
): Promise<number> {
  const { messages, repeat } = await messagesToPublish(routingKey, body, o, io);
  const total = messages.length * repeat;
  const t: PublishTally = { sent: 0, confirmed: 0, returned: 0, nacked: 0, failed: 0, firstError: undefined };
  const progress = new Progress(io.progress);
  const showProgress = total > 1;
  const started = Date.now();
  const draw = (force = false) => {
    if (!showProgress) return;
    const secs = (Date.now() - started) / 1000;
    const rate = secs > 0 ? `${Math.round(t.confirmed / secs)} msg/s` : '';
    progress.update(progressLine('publishing', t.confirmed + t.returned + t.nacked + t.failed, total, rate), force);
  };
  const mq = client(o);
  await withClient(mq, async () => {
    const inFlight = new Set<Promise<void>>();
    let stop = false;
    void io.interrupted.then(() => {
      stop = true;
    });
    for (let i = 0; i < total && !stop; i++) {
      if (o.rate !== undefined) {
        const due = started + (i * 1000) / o.rate;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
      while (inFlight.size >= WINDOW) await Promise.race(inFlight);
      const m = messages[i % messages.length]!;
      // Repeats get their own messageId: they are distinct messages, not retries of one.
      const options = repeat > 1 ? withoutMessageId(m.options) : m.options;
      const p = mq
        .publishMessage(m.routingKey, m.body, options)
        .then(
          () => {
            t.confirmed++;
          },
          (err: unknown) => {
            if (err instanceof UnroutableError) t.returned++;
            else if (err instanceof PublishNackedError) t.nacked++;
            else t.failed++;
            t.firstError ??= err;
          },
        )
        .finally(() => {
          inFlight.delete(p);
          draw();
        });
      inFlight.add(p);
      t.sent++;
    }
    await Promise.all(inFlight);
  });
  if (showProgress) progress.clear();
  if (t.firstError !== undefined) {
    const e = t.firstError;
    io.err(`warren: ${e instanceof WarrenError ? `${e.code}: ` : ''}${(e as Error).message ?? String(e)}`);
  }
  const failed = t.failed > 0 ? `, failed ${t.failed}` : '';
  io.out(`sent ${t.sent}, confirmed ${t.confirmed}, returned ${t.returned}, nacked ${t.nacked}${failed}`);
  return t.confirmed === t.sent && t.sent === total ? 0 : 1;
}
