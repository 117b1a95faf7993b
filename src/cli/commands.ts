/**
 * The commands that inspect or change the broker one step at a time: ping, validate, declare, topology,
 * get, consume, rpc, purge, delete. publish, bench and doctor have files of their own.
 */
import { redactUrl, validateConfig } from '../index.js';
import { type ConnectOptions, client, toJson, withClient } from './client.js';
import { loadConfig } from './config-file.js';
import type { CliIO } from './io.js';
import { toDot, toMermaid, topologyGraph } from './topology.js';
import { UsageError } from './usage.js';

/** A delivered or fetched message, as the commands print it. */
export interface PrintableMessage {
  routingKey: string;
  exchange: string;
  redelivered: boolean;
  properties: object;
  body: Buffer;
}

/** A message as a plain object: the body as text when it is UTF-8, else as base64. */
export function messageObject(m: PrintableMessage): Record<string, unknown> {
  const text = m.body.toString('utf8');
  const isText = Buffer.from(text, 'utf8').equals(m.body);
  return {
    exchange: m.exchange,
    routingKey: m.routingKey,
    redelivered: m.redelivered,
    properties: m.properties,
    ...(isText ? { body: text } : { bodyBase64: m.body.toString('base64') }),
  };
}

/** A message as one JSON line (what `get` and `consume` print, and `publish --ndjson` reads back). */
export function messageLine(m: PrintableMessage): string {
  return toJson(messageObject(m));
}

/** `warren ping`: connects and reports what the broker said and what was negotiated. */
export async function ping(o: ConnectOptions & { json: boolean }, io: CliIO): Promise<void> {
  const mq = client(o);
  await withClient(mq, async () => {
    const conn = mq.connection!;
    const p = conn.serverProperties;
    const urls = mq.settings.urls.map(redactUrl);
    if (o.json) {
      io.out(
        toJson({
          ok: true,
          urls,
          server: { product: p.product, version: p.version, platform: p.platform },
          negotiated: { frameMax: conn.frameMax, channelMax: conn.channelMax, heartbeat: conn.heartbeatSeconds },
        }),
      );
      return;
    }
    io.out(`connected to ${urls.join(', ')}`);
    io.out(`server: ${String(p.product)} ${String(p.version)} (${String(p.platform)})`);
    io.out(
      `negotiated: frame_max ${conn.frameMax}, channel_max ${conn.channelMax}, heartbeat ${conn.heartbeatSeconds} s`,
    );
  });
}

function counts(c: { exchanges: unknown[]; queues: unknown[]; bindings: unknown[] }) {
  return { exchanges: c.exchanges.length, queues: c.queues.length, bindings: c.bindings.length };
}

/** `warren validate <file>`: checks a topology without connecting. */
export async function validate(path: string | undefined, o: { json: boolean }, io: CliIO): Promise<void> {
  const config = validateConfig(await loadConfig(path));
  const n = counts(config);
  if (o.json) {
    io.out(toJson({ valid: true, vhost: config.vhost, ...n }));
    return;
  }
  io.out(`valid: ${n.exchanges} exchange(s), ${n.queues} queue(s), ${n.bindings} binding(s) in vhost ${config.vhost}`);
}

/** `warren declare <file>`: validates and declares a topology. */
export async function declare(
  path: string | undefined,
  o: ConnectOptions & { json: boolean },
  io: CliIO,
): Promise<void> {
  const mq = client(o, await loadConfig(path));
  await withClient(mq, async () => {
    const n = counts(mq.config);
    if (o.json) {
      io.out(toJson({ declared: true, vhost: mq.config.vhost, ...n, serverNamedQueues: mq.serverNamedQueues }));
      return;
    }
    io.out(`declared ${n.exchanges} exchange(s), ${n.queues} queue(s), ${n.bindings} binding(s)`);
    for (const name of mq.serverNamedQueues) io.out(`server-named queue: ${name}`);
  });
}

/** `warren topology <file>`: draws the topology (Mermaid or Graphviz dot) without connecting. */
export async function topology(path: string | undefined, o: { format: string | undefined }, io: CliIO): Promise<void> {
  const format = o.format ?? 'mermaid';
  if (format !== 'mermaid' && format !== 'dot')
    throw new UsageError(`--format must be mermaid or dot, got ${JSON.stringify(format)}`);
  const graph = topologyGraph(validateConfig(await loadConfig(path)));
  io.out(format === 'dot' ? toDot(graph) : toMermaid(graph));
}

/** `warren get <queue>`: fetches up to --count messages with basic.get, acking them with --ack. */
export async function get(
  queue: string | undefined,
  o: ConnectOptions & { count?: number | undefined; ack: boolean; json: boolean },
  io: CliIO,
): Promise<void> {
  if (queue === undefined) throw new UsageError('get needs a queue');
  const mq = client(o);
  await withClient(mq, async () => {
    const ch = await mq.connection!.createChannel();
    const limit = o.count ?? 1;
    const messages: Record<string, unknown>[] = [];
    let last = 0;
    try {
      while (messages.length < limit) {
        const m = await ch.basicGet({ queue });
        if (m === null) break;
        const shown = messageObject(m);
        messages.push(shown);
        if (!o.json) io.out(toJson(shown));
        last = m.deliveryTag;
        if (o.ack) ch.basicAck(m.deliveryTag);
      }
      // Requeued only once all are fetched: requeued one by one, the first would be fetched again and again.
      if (!o.ack && last > 0) ch.basicNack(last, { multiple: true, requeue: true });
    } finally {
      await ch.close().catch(() => {});
    }
    if (o.json) io.out(toJson({ queue, count: messages.length, acked: o.ack, messages }));
    else io.err(`${messages.length} message(s)${o.ack ? ' (acked)' : ' (left in the queue)'}`);
  });
}

/** `warren consume <queue>`: prints and acks messages until --count, SIGINT or SIGTERM. */
export async function consume(
  queue: string | undefined,
  o: ConnectOptions & { count?: number | undefined; prefetch?: number | undefined },
  io: CliIO,
): Promise<void> {
  if (queue === undefined) throw new UsageError('consume needs a queue');
  const mq = client(o);
  await withClient(mq, async () => {
    let seen = 0;
    let done: () => void = () => {};
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    // Manual acks: messages prefetched beyond --count go back to the queue instead of being acked unseen.
    const consumer = await mq.consume(
      queue,
      (msg) => {
        if (o.count !== undefined && seen >= o.count) {
          msg.nack({ requeue: true });
          return;
        }
        io.out(messageLine({ ...msg.fields, properties: msg.properties, body: msg.body }));
        msg.ack();
        seen++;
        if (o.count !== undefined && seen >= o.count) done();
      },
      { prefetch: Math.min(o.prefetch ?? 10, o.count ?? Number.POSITIVE_INFINITY), deadLetter: false, manual: true },
    );
    const signalled = await Promise.race([finished.then(() => false), io.interrupted.then(() => true)]);
    // stop() cancels first, then waits for in-flight handlers, so every message printed is also acked.
    await consumer.stop({ timeoutMs: 5000 });
    if (signalled) io.err(`stopped after ${seen === 0 ? 'no' : seen} message(s)`);
  });
}

/** `warren rpc <routingKey> <body>`: calls an RPC server and prints the reply. */
export async function rpc(
  routingKey: string | undefined,
  body: string | undefined,
  o: ConnectOptions & { json: boolean; timeout?: number | undefined; exchange?: string | undefined },
  io: CliIO,
): Promise<void> {
  if (routingKey === undefined || body === undefined) throw new UsageError('rpc needs a routing key and a body');
  let payload: string | Record<string, unknown> = body;
  if (o.json) {
    try {
      payload = JSON.parse(body) as Record<string, unknown>;
    } catch (err) {
      throw new UsageError(`--json: the body is not valid JSON: ${(err as Error).message}`);
    }
  }
  const mq = client(o);
  const reply = await withClient(mq, () =>
    mq.rpc(routingKey, payload, {
      timeoutMs: o.timeout ?? 10_000,
      ...(o.exchange !== undefined ? { exchange: o.exchange } : {}),
    }),
  );
  io.out(typeof reply === 'string' ? reply : Buffer.isBuffer(reply) ? reply.toString('utf8') : toJson(reply));
}

/** `warren purge <queue>`: removes the messages that are ready in a queue. */
export async function purge(queue: string | undefined, o: ConnectOptions, io: CliIO): Promise<void> {
  if (queue === undefined) throw new UsageError('purge needs a queue');
  const mq = client(o);
  await withClient(mq, async () => {
    const ch = await mq.connection!.createChannel();
    try {
      const { messageCount } = await ch.queuePurge({ queue });
      io.out(`purged ${messageCount} message(s) from queue ${JSON.stringify(queue)}`);
    } finally {
      await ch.close().catch(() => {});
    }
  });
}

/** `warren delete queue|exchange <name>`: deletes one entity, optionally only when unused / empty. */
export async function remove(
  kind: string | undefined,
  name: string | undefined,
  o: ConnectOptions & { ifUnused: boolean; ifEmpty: boolean },
  io: CliIO,
): Promise<void> {
  if (kind !== 'queue' && kind !== 'exchange')
    throw new UsageError(
      `delete needs "queue" or "exchange", got ${kind === undefined ? 'nothing' : JSON.stringify(kind)}`,
    );
  if (name === undefined) throw new UsageError(`delete ${kind} needs a name`);
  if (kind === 'exchange' && o.ifEmpty) throw new UsageError('--if-empty applies to queues only');
  const mq = client(o);
  await withClient(mq, async () => {
    const ch = await mq.connection!.createChannel();
    try {
      if (kind === 'queue') {
        const { messageCount } = await ch.queueDelete({ queue: name, ifUnused: o.ifUnused, ifEmpty: o.ifEmpty });
        io.out(`deleted queue ${JSON.stringify(name)} (${messageCount} message(s) dropped)`);
      } else {
        await ch.exchangeDelete({ exchange: name, ifUnused: o.ifUnused });
        io.out(`deleted exchange ${JSON.stringify(name)}`);
      }
    } finally {
      await ch.close().catch(() => {});
    }
  });
}
