/**
 * The shared memory between SyncRabbitMQ (the blocked caller) and its worker: one request area written
 * only by the caller, one reply area written only by the worker, and a header of Int32 slots both wait
 * and notify on. A call costs one wake-up each way and no structured clone: message bodies are copied
 * once into the shared area and once out of it, by the side that reads them, into a Buffer of its own.
 * The caller blocks in Atomics.wait. The worker, right after answering, blocks in Atomics.wait too
 * (for up to HOT_WAIT_MS, see there), and otherwise waits in its event loop on Atomics.waitAsync.
 *
 * Ownership: neither side keeps a view of shared memory. The Buffer a caller publishes is read (copied)
 * during the call and never retained, detached or modified; every Buffer a call returns (delivery
 * bodies, header bytes) is freshly allocated and the caller's to keep.
 *
 * An area that is too small for a request or reply is replaced by a larger SharedArrayBuffer, handed
 * over on a MessagePort that the reader drains synchronously (receiveMessageOnPort) before it reads.
 */

import { deserialize, serialize } from 'node:v8';
import { type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import type { MessageBody, PublishMessageOptions } from '../client/message.js';
import { revive, toThread } from './messages.js';

/** Slots of the header Int32Array. */
export const WAKE = 0; // set to 1 (and notified) when a reply was written (or the worker is ending)
export const STARTED = 1; // set to 1 once the worker's bootstrap runs
export const REQ_SEQ = 2; // bumped (and notified) by the caller for each request written
export const REQ_TAKEN = 3; // the last REQ_SEQ the worker has read: the request area is free again
export const REQ_LEN = 4;
export const REQ_GEN = 5; // which request area is current (bumped when the caller replaced it)
export const REP_FULL = 6; // 1 while a reply waits in the reply area; the caller sets it back to 0
export const REP_LEN = 7;
export const REP_GEN = 8;
/**
 * 1 while the worker blocks on REQ_SEQ itself (Atomics.wait, right after answering: the next call of a
 * caller in a loop comes within microseconds); 0 while it is in its event loop, where only BELL reaches it.
 */
export const WORKER_HOT = 9;
export const BELL = 10; // bumped (and notified) by the caller for a worker in its event loop (Atomics.waitAsync)
export const HEADER_SLOTS = 16;

/**
 * How long the worker, having answered its last outstanding call, blocks on the next one before it goes
 * back to its event loop. A futex wake-up costs a fraction of an event-loop one (Atomics.waitAsync posts
 * a task to the loop through an eventfd and a promise), and a caller in a loop calls again at once. The
 * loop's own work (heartbeats, incoming frames) waits at most this long, and only after a call.
 */
export const HOT_WAIT_MS = 20;

/** Request formats (first byte). */
const REQ_GENERIC = 0; // structured: v8.serialize(toThread([op, args]))
const REQ_PUBLISH = 1; // publishMessage(routingKey, message, options), binary
const REQ_PUBLISH_MANY = 2; // publishMany([{ routingKey, message, options }]), binary

/** Reply formats (first byte). */
const REP_VOID = 0;
const REP_VALUE = 1;
const REP_ERROR = 2;

/** Body kinds of the binary publish formats. */
const BODY_BYTES = 0;
const BODY_TEXT = 1;
const BODY_JSON = 2; // a plain object or array, JSON-encoded by the caller

/** Option kinds of the binary publish formats. */
const OPT_NONE = 0;
const OPT_JSON = 1;
const OPT_V8 = 2;

const INITIAL_AREA = 64 * 1024;

/** Atomics.waitAsync (Node 16+; not yet in this TypeScript lib). */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(a: Int32Array, index: number, value: number): { async: boolean; value: Promise<unknown> | unknown };
  }
).waitAsync;

/** A shared area: its memory and a Buffer view of it. */
export class Area {
  readonly buf: Buffer;
  constructor(readonly sab: SharedArrayBuffer) {
    this.buf = Buffer.from(sab);
  }
  static create(bytes = INITIAL_AREA): Area {
    return new Area(new SharedArrayBuffer(bytes));
  }
}

/** One message of publishMany. */
export interface ManyMessage {
  /** The routing key, as the first argument of `publishMessage`. */
  routingKey: string;
  /** The message body (bytes, a string, or a JSON value), as the second argument of `publishMessage`. */
  message: MessageBody;
  /** Publish options (exchange, headers, persistence...), as the third argument of `publishMessage`. */
  options?: PublishMessageOptions;
}

/** What decodeRequest yields: an operation and its (revived, unshared) arguments. */
export interface DecodedRequest {
  id: number;
  op: string;
  args: unknown[];
}

// ---------------------------------------------------------------- encoding helpers

/** Options that are only strings, finite numbers and booleans go as JSON (cheap); others structured. */
function optionsKind(o: PublishMessageOptions | undefined): number {
  if (o === undefined || o === null) return OPT_NONE;
  let any = false;
  for (const k in o) {
    if (!Object.hasOwn(o, k)) continue;
    const v = (o as Record<string, unknown>)[k];
    if (v === undefined) continue;
    any = true;
    const t = typeof v;
    if (t === 'string' || t === 'boolean') continue;
    if (t === 'number' && Number.isFinite(v)) continue;
    return OPT_V8;
  }
  return any ? OPT_JSON : OPT_NONE;
}

/** A message prepared for the binary format, or undefined when it must go the structured way. */
interface PreparedMessage {
  rk: string;
  rkBytes: number;
  bodyKind: number;
  body: Uint8Array | string;
  bodyBytes: number;
  optKind: number;
  opt: Buffer | string | undefined;
  optBytes: number;
}

function prepare(routingKey: unknown, message: unknown, options: PublishMessageOptions | undefined) {
  // Anything odd (a non-string key, a body buildMessage would refuse) goes the structured way, so the
  // worker throws exactly what AsyncRabbitMQ throws.
  if (typeof routingKey !== 'string') return undefined;
  let bodyKind: number;
  let body: Uint8Array | string;
  if (message instanceof Uint8Array) {
    bodyKind = BODY_BYTES;
    body = message;
  } else if (typeof message === 'string') {
    bodyKind = BODY_TEXT;
    body = message;
  } else if (message !== null && typeof message === 'object' && !(message instanceof Date)) {
    let json: string | undefined;
    try {
      json = JSON.stringify(message);
    } catch {
      return undefined;
    }
    if (typeof json !== 'string') return undefined;
    bodyKind = BODY_JSON;
    body = json;
  } else {
    return undefined;
  }
  const optKind = optionsKind(options);
  const opt =
    optKind === OPT_JSON ? JSON.stringify(options) : optKind === OPT_V8 ? serialize(toThread(options)) : undefined;
  return {
    rk: routingKey,
    rkBytes: Buffer.byteLength(routingKey),
    bodyKind,
    body,
    bodyBytes: typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength,
    optKind,
    opt,
    optBytes: opt === undefined ? 0 : typeof opt === 'string' ? Buffer.byteLength(opt) : opt.byteLength,
  } satisfies PreparedMessage;
}

function preparedSize(p: PreparedMessage): number {
  return 4 + p.rkBytes + 1 + 4 + p.bodyBytes + 1 + 4 + p.optBytes;
}

function writeStr(buf: Buffer, at: number, s: string, bytes: number): number {
  buf.writeUInt32LE(bytes, at);
  if (bytes > 0) buf.write(s, at + 4, bytes, 'utf8');
  return at + 4 + bytes;
}

function writePrepared(buf: Buffer, at: number, p: PreparedMessage): number {
  let o = writeStr(buf, at, p.rk, p.rkBytes);
  buf[o++] = p.bodyKind;
  if (typeof p.body === 'string') o = writeStr(buf, o, p.body, p.bodyBytes);
  else {
    buf.writeUInt32LE(p.bodyBytes, o);
    buf.set(p.body, o + 4);
    o += 4 + p.bodyBytes;
  }
  buf[o++] = p.optKind;
  if (typeof p.opt === 'string') o = writeStr(buf, o, p.opt, p.optBytes);
  else {
    buf.writeUInt32LE(p.optBytes, o);
    if (p.opt) buf.set(p.opt, o + 4);
    o += 4 + p.optBytes;
  }
  return o;
}

/** Reads one binary message; bytes are copied out of the shared area. */
function readPrepared(buf: Buffer, at: number): { message: ManyMessage; next: number } {
  const rkLen = buf.readUInt32LE(at);
  const routingKey = buf.toString('utf8', at + 4, at + 4 + rkLen);
  let o = at + 4 + rkLen;
  const bodyKind = buf[o++]!;
  const bodyLen = buf.readUInt32LE(o);
  o += 4;
  let message: MessageBody;
  let jsonBody = false;
  if (bodyKind === BODY_BYTES) {
    const own = Buffer.allocUnsafe(bodyLen);
    buf.copy(own, 0, o, o + bodyLen);
    message = own;
  } else if (bodyKind === BODY_TEXT) {
    message = buf.toString('utf8', o, o + bodyLen);
  } else {
    // Already JSON: sent as the bytes buildMessage would have made, with its content type.
    const own = Buffer.allocUnsafe(bodyLen);
    buf.copy(own, 0, o, o + bodyLen);
    message = own;
    jsonBody = true;
  }
  o += bodyLen;
  const optKind = buf[o++]!;
  const optLen = buf.readUInt32LE(o);
  o += 4;
  let options: PublishMessageOptions | undefined;
  if (optKind === OPT_JSON) options = JSON.parse(buf.toString('utf8', o, o + optLen)) as PublishMessageOptions;
  else if (optKind === OPT_V8) options = revive(deserialize(buf.subarray(o, o + optLen))) as PublishMessageOptions;
  o += optLen;
  if (jsonBody) options = { ...options, contentType: options?.contentType ?? 'application/json' };
  return { message: { routingKey, message, options }, next: o };
}

// ---------------------------------------------------------------- the caller's side

/** The caller's end: writes requests, reads replies. */
export class CallerMailbox {
  private req = Area.create();
  private rep: Area;
  private reqGen = 0;
  private repGen = 0;
  private seq = 0;

  constructor(
    readonly header: Int32Array,
    /** Where a larger request area is handed to the worker. */
    private readonly toWorker: MessagePort,
    /** Where the worker hands over a larger reply area (and the bootstrap reports the worker's end). */
    private readonly fromWorker: MessagePort,
    rep: Area,
  ) {
    this.rep = rep;
  }

  /** The areas the worker starts with. */
  get initialRequestArea(): SharedArrayBuffer {
    return this.req.sab;
  }

  /**
   * Writes a request. Returns false when the worker has not yet read the previous one (only after a
   * call timed out) within `waitMs`.
   */
  send(id: number, op: string, args: unknown[], waitMs: number): boolean {
    const h = this.header;
    // The request area is free once the worker took the last request (it does at once on waking).
    const deadline = Date.now() + waitMs;
    for (let taken = Atomics.load(h, REQ_TAKEN); taken !== this.seq; taken = Atomics.load(h, REQ_TAKEN)) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      Atomics.wait(h, REQ_TAKEN, taken, Math.min(left, 100));
    }
    let len = op === 'publishMessage' ? this.tryPublish(id, args) : 0;
    if (op === 'publishMany') len = this.tryMany(id, args[0] as ManyMessage[]);
    if (len === 0) {
      // Not a publish, or one the binary format does not carry as is.
      const bytes = serialize(toThread([op, args]));
      const area = this.room(5 + bytes.byteLength);
      area.buf[0] = REQ_GENERIC;
      area.buf.writeUInt32LE(id, 1);
      area.buf.set(bytes, 5);
      len = 5 + bytes.byteLength;
    }
    Atomics.store(h, REQ_LEN, len);
    Atomics.store(h, REQ_SEQ, ++this.seq);
    // A worker blocked on REQ_SEQ wakes from this alone. One in its event loop needs the bell; the
    // worker clears WORKER_HOT before it reads REQ_SEQ again, so one of the two always sees the request.
    if (Atomics.load(h, WORKER_HOT) === 1) Atomics.notify(h, REQ_SEQ);
    else {
      Atomics.add(h, BELL, 1);
      Atomics.notify(h, BELL);
    }
    return true;
  }

  private tryPublish(id: number, args: unknown[]): number {
    const p = prepare(args[0], args[1], args[2] as PublishMessageOptions | undefined);
    if (!p) return 0;
    const area = this.room(5 + preparedSize(p));
    area.buf[0] = REQ_PUBLISH;
    area.buf.writeUInt32LE(id, 1);
    return writePrepared(area.buf, 5, p);
  }

  private tryMany(id: number, messages: ManyMessage[]): number {
    const prepared: PreparedMessage[] = [];
    let size = 9;
    for (const m of messages) {
      const p = prepare(m?.routingKey, m?.message, m?.options);
      if (!p) return 0;
      prepared.push(p);
      size += preparedSize(p);
    }
    const area = this.room(size);
    area.buf[0] = REQ_PUBLISH_MANY;
    area.buf.writeUInt32LE(id, 1);
    area.buf.writeUInt32LE(prepared.length, 5);
    let o = 9;
    for (const p of prepared) o = writePrepared(area.buf, o, p);
    return o;
  }

  /** The request area, replaced by a larger one (handed to the worker first) when `bytes` do not fit. */
  private room(bytes: number): Area {
    if (bytes <= this.req.sab.byteLength) return this.req;
    let size = this.req.sab.byteLength;
    while (size < bytes) size *= 2;
    this.req = Area.create(size);
    this.toWorker.postMessage({ area: this.req.sab, gen: ++this.reqGen });
    Atomics.store(this.header, REQ_GEN, this.reqGen);
    return this.req;
  }

  /** Takes a larger reply area the worker posted; false for any other message (the bootstrap's). */
  adopt(message: unknown): boolean {
    const m = message as { area?: unknown; gen?: unknown } | null;
    if (!m || !(m.area instanceof SharedArrayBuffer) || typeof m.gen !== 'number') return false;
    this.rep = new Area(m.area);
    this.repGen = m.gen;
    return true;
  }

  /** Whether a reply waits in the reply area. */
  get hasReply(): boolean {
    return Atomics.load(this.header, REP_FULL) === 1;
  }

  /** Takes the waiting reply (and frees the area for the next). */
  takeReply(): { id: number; ok: true; value: unknown } | { id: number; ok: false; error: unknown } {
    const h = this.header;
    const gen = Atomics.load(h, REP_GEN);
    while (this.repGen !== gen) {
      const got = receiveMessageOnPort(this.fromWorker);
      if (!got) break; // cannot happen: the worker posts the area before it bumps the generation
      this.adopt(got.message);
    }
    const len = Atomics.load(h, REP_LEN);
    const buf = this.rep.buf;
    const kind = buf[0];
    const id = buf.readUInt32LE(1);
    let out: { id: number; ok: true; value: unknown } | { id: number; ok: false; error: unknown };
    if (kind === REP_VOID) out = { id, ok: true, value: undefined };
    else {
      const value = deserialize(buf.subarray(5, len));
      out = kind === REP_ERROR ? { id, ok: false, error: value } : { id, ok: true, value: revive(value) };
    }
    Atomics.store(h, REP_FULL, 0);
    Atomics.notify(h, REP_FULL);
    return out;
  }
}

// ---------------------------------------------------------------- the worker's side

/** The worker's end: reads requests, writes replies (queued while the caller has not taken the last). */
export class WorkerMailbox {
  private req: Area;
  private rep: Area;
  private reqGen = 0;
  private repGen = 0;
  private seen = 0;
  private readonly queue: { id: number; kind: number; bytes: Buffer | undefined }[] = [];
  private waitingForRoom = false;
  /** Requests taken and not answered yet. */
  private outstanding = 0;
  /** Whether an Atomics.waitAsync on BELL is pending (it cannot be cancelled: it is reused). */
  private bellArmed = false;
  private hotScheduled = false;

  constructor(
    readonly header: Int32Array,
    requestArea: SharedArrayBuffer,
    replyArea: SharedArrayBuffer,
    private readonly fromCaller: MessagePort,
    private readonly toCaller: MessagePort,
    private readonly onRequest: (req: DecodedRequest) => void,
  ) {
    this.req = new Area(requestArea);
    this.rep = new Area(replyArea);
  }

  /** Waits for requests for as long as the thread lives (something else must keep it alive). */
  start(): void {
    this.armBell();
    // The caller may have written (and rung for) its first request before this thread got here.
    this.take();
  }

  /** Takes the request REQ_SEQ announces, if it is new. */
  private take(): void {
    const seq = Atomics.load(this.header, REQ_SEQ);
    if (seq === this.seen) return;
    this.seen = seq;
    let req: DecodedRequest;
    try {
      req = this.decode();
    } finally {
      Atomics.store(this.header, REQ_TAKEN, seq);
      Atomics.notify(this.header, REQ_TAKEN);
    }
    this.outstanding++;
    this.onRequest(req);
  }

  private armBell(): void {
    if (this.bellArmed) return;
    this.bellArmed = true;
    const w = waitAsync(this.header, BELL, Atomics.load(this.header, BELL));
    if (w.async) void (w.value as Promise<unknown>).then(this.rung);
    else queueMicrotask(this.rung);
  }

  private readonly rung = (): void => {
    this.bellArmed = false;
    this.armBell();
    this.take();
  };

  /** Blocks on the next request for up to HOT_WAIT_MS (see there), then back to the event loop. */
  private readonly hotWait = (): void => {
    this.hotScheduled = false;
    const h = this.header;
    if (this.outstanding === 0 && Atomics.load(h, REQ_SEQ) === this.seen) {
      Atomics.wait(h, REQ_SEQ, this.seen, HOT_WAIT_MS);
    }
    Atomics.store(h, WORKER_HOT, 0);
    // Read after clearing WORKER_HOT: a request written meanwhile rang the bell or is seen here (or both).
    this.take();
  };

  private decode(): DecodedRequest {
    const gen = Atomics.load(this.header, REQ_GEN);
    while (this.reqGen !== gen) {
      const got = receiveMessageOnPort(this.fromCaller)?.message as
        | { area: SharedArrayBuffer; gen: number }
        | undefined;
      if (!got) break;
      this.req = new Area(got.area);
      this.reqGen = got.gen;
    }
    const buf = this.req.buf;
    const len = Atomics.load(this.header, REQ_LEN);
    const format = buf[0];
    const id = buf.readUInt32LE(1);
    if (format === REQ_PUBLISH) {
      const { message: m } = readPrepared(buf, 5);
      return { id, op: 'publishMessage', args: [m.routingKey, m.message, m.options] };
    }
    if (format === REQ_PUBLISH_MANY) {
      const count = buf.readUInt32LE(5);
      const messages: ManyMessage[] = new Array(count);
      let o = 9;
      for (let i = 0; i < count; i++) {
        const r = readPrepared(buf, o);
        messages[i] = r.message;
        o = r.next;
      }
      return { id, op: 'publishMany', args: [messages] };
    }
    const [op, args] = revive(deserialize(buf.subarray(5, len))) as [string, unknown[]];
    return { id, op, args };
  }

  /** Answers request `id` with a value (already prepared by toThread) or nothing. */
  answer(id: number, value: unknown): void {
    if (value === undefined) this.push(id, REP_VOID, undefined);
    else this.push(id, REP_VALUE, serialize(value));
  }

  /** Answers request `id` with an error (a SerializedError). */
  fail(id: number, error: unknown): void {
    this.push(id, REP_ERROR, serialize(error));
  }

  private push(id: number, kind: number, bytes: Buffer | undefined): void {
    this.queue.push({ id, kind, bytes });
    if (this.outstanding > 0 && --this.outstanding === 0) {
      // Hot before the caller is woken: its next request then needs no wake-up at all when it comes
      // before this thread blocks (hotWait finds it), and only a futex one after.
      Atomics.store(this.header, WORKER_HOT, 1);
      if (!this.hotScheduled) {
        this.hotScheduled = true;
        setImmediate(this.hotWait); // after this turn of the loop, whatever else it has to do first
      }
    }
    this.flush();
  }

  /** Writes queued replies while the caller has taken the last one. */
  private flush(): void {
    const h = this.header;
    while (this.queue.length > 0) {
      if (Atomics.load(h, REP_FULL) === 1) {
        // Only after a timed-out call: wait until the caller takes the stale reply.
        if (!this.waitingForRoom) {
          this.waitingForRoom = true;
          const w = waitAsync(h, REP_FULL, 1);
          const retry = () => {
            this.waitingForRoom = false;
            this.flush();
          };
          if (w.async) void (w.value as Promise<unknown>).then(retry);
          else queueMicrotask(retry);
        }
        return;
      }
      const { id, kind, bytes } = this.queue.shift()!;
      const len = 5 + (bytes?.byteLength ?? 0);
      if (len > this.rep.sab.byteLength) {
        let size = this.rep.sab.byteLength;
        while (size < len) size *= 2;
        this.rep = Area.create(size);
        this.toCaller.postMessage({ area: this.rep.sab, gen: ++this.repGen });
        Atomics.store(h, REP_GEN, this.repGen);
      }
      const buf = this.rep.buf;
      buf[0] = kind;
      buf.writeUInt32LE(id, 1);
      if (bytes) buf.set(bytes, 5);
      Atomics.store(h, REP_LEN, len);
      Atomics.store(h, REP_FULL, 1);
      Atomics.store(h, WAKE, 1);
      Atomics.notify(h, WAKE);
    }
  }
}
