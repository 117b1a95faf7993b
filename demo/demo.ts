/**
 * `npm run demo`: what warren does, in about ten seconds, against RABBITMQ_URL or the local broker.
 *
 * 1. Declares a sample topology from config (names unique to this run, all durable): a topic exchange,
 *    a work queue with its retry queue and dead-letter exchange/queue, a quorum audit queue, an RPC queue;
 *    prints it as a Mermaid diagram.
 * 2. Runs a producer and a consumer for a few seconds with a live progress line. Some orders fail: once
 *    (they come back from the retry queue and succeed) or always (after 3 attempts they are dead-lettered).
 * 3. An RPC round trip over direct reply-to.
 * 4. A summary table, then deletes everything it declared.
 */
import { randomBytes } from 'node:crypto';
import { formatNumber, Progress, percentile, progressLine, table } from '../src/cli/render.js';
import { toMermaid, topologyGraph } from '../src/cli/topology.js';
import {
  AsyncRabbitMQ,
  deadLetterName,
  defineConfig,
  ExchangeType,
  redactUrl,
  resolveSettings,
  retryQueueName,
  WarrenError,
} from '../src/index.js';
import { ensureBroker, NoBrokerError } from './broker.js';

const RUN_SECONDS = Number(process.env.WARREN_DEMO_SECONDS ?? 3);
const RATE = 200; // orders a second
const RETRY_DELAY_MS = 300;
const ATTEMPTS = 3;

const run = randomBytes(3).toString('hex');
const prefix = `warren.demo.${run}`;
const names = {
  exchange: `${prefix}.orders`,
  work: `${prefix}.work`,
  audit: `${prefix}.audit`,
  pricing: `${prefix}.pricing`,
};
const retry = retryQueueName(names.work, RETRY_DELAY_MS);
const dead = deadLetterName(names.work);

// The consumer declares its retry queue and dead-letter exchange/queue by itself; they are in the config
// too, with the same arguments, so the diagram shows the whole path a failing message takes.
const topology = defineConfig({
  exchanges: [
    { name: names.exchange, type: ExchangeType.TOPIC },
    { name: dead, type: ExchangeType.FANOUT },
  ],
  queues: [
    { name: names.work, exchange: names.exchange, routingKey: 'order.*' },
    {
      name: retry,
      arguments: {
        'x-message-ttl': RETRY_DELAY_MS,
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': names.work,
      },
    },
    { name: dead, exchange: dead, routingKey: '' },
    { name: names.audit, exchange: names.exchange, routingKey: '#', arguments: { 'x-queue-type': 'quorum' } },
    { name: names.pricing },
  ],
});

/** Orders whose id is a multiple of 10 fail once; of 25, always (they end in the dead-letter queue). */
const failsOnce = (id: number) => id % 10 === 0 && id % 25 !== 0;
const failsAlways = (id: number) => id % 25 === 0;

const stats = { published: 0, confirmed: 0, consumed: 0, retried: 0, deadLettered: 0, audited: 0 };
const latencies: number[] = [];

async function main(): Promise<void> {
  const settings = resolveSettings({});
  const url = settings.urls[0]!;
  await ensureBroker(url);
  const mq = new AsyncRabbitMQ(topology, {
    connectionName: 'warren demo',
    connectionTimeout: 5000,
    connectRetry: { attempts: 3 },
  });
  console.log(`connecting to ${redactUrl(url)}`);
  await mq.connect();
  try {
    await demo(mq);
  } finally {
    await cleanup(mq);
    await mq.disconnect();
  }
}

async function demo(mq: AsyncRabbitMQ): Promise<void> {
  const server = mq.connection!.serverProperties;
  console.log(`connected: ${String(server.product)} ${String(server.version)}`);
  console.log(
    `\ndeclared (run ${run}): ${mq.config.exchanges.length} exchanges, ${mq.config.queues.length} queues, all durable`,
  );
  console.log('```mermaid');
  console.log(toMermaid(topologyGraph(mq.config)));
  console.log('```\n');

  const worker = await mq.consume<{ id: number }>(
    names.work,
    async (msg) => {
      const { id } = msg.value;
      if (failsAlways(id) || (failsOnce(id) && msg.attempt === 1)) {
        if (msg.attempt < ATTEMPTS) stats.retried++;
        throw new Error(`order ${id}: payment service unavailable (attempt ${msg.attempt})`);
      }
      stats.consumed++;
    },
    { json: true, prefetch: 50, retry: { attempts: ATTEMPTS, delayMs: RETRY_DELAY_MS } },
  );
  worker.on('error', () => {}); // failures are the point here; they are counted above
  const deadReader = await mq.consume(
    dead,
    () => {
      stats.deadLettered++;
    },
    { deadLetter: false, prefetch: 50 },
  );

  const progress = new Progress(process.stdout, { plainEveryMs: 1000 });
  const line = () =>
    progressLine(
      'orders',
      stats.consumed + stats.deadLettered,
      stats.published,
      `published ${stats.published}, confirmed ${stats.confirmed}, consumed ${stats.consumed}, retried ${stats.retried}, dead-lettered ${stats.deadLettered}`,
    );
  const ticker = setInterval(() => progress.update(line()), 100);
  try {
    const started = Date.now();
    const pending: Promise<void>[] = [];
    for (let id = 1; Date.now() - started < RUN_SECONDS * 1000; id++) {
      const due = started + (id * 1000) / RATE;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      const sentAt = performance.now();
      stats.published++;
      pending.push(
        mq.publishMessage('order.created', { id, total: id * 1.5 }, { exchange: names.exchange }).then(() => {
          latencies.push(performance.now() - sentAt);
          stats.confirmed++;
        }),
      );
    }
    await Promise.all(pending);
    // Everything published ends either consumed or dead-lettered; retries take a few hundred ms more.
    const deadline = Date.now() + 15_000;
    while (stats.consumed + stats.deadLettered < stats.published && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    clearInterval(ticker);
  }
  progress.done(line());
  await worker.stop();
  await deadReader.stop();

  const ch = await mq.getChannel();
  stats.audited = (await ch.queueDeclare({ queue: names.audit, passive: true })).messageCount;

  const pricing = await mq.rpcServer<{ sku: string }, { sku: string; cents: number }>(
    names.pricing,
    async ({ sku }) => ({
      sku,
      cents: 999,
    }),
  );
  const t0 = performance.now();
  const price = await mq.rpc<{ cents: number }>(names.pricing, { sku: 'A1' }, { timeoutMs: 5000 });
  // Stopped before cleanup: a consumer whose queue is deleted under it declares the queue again.
  await pricing.stop();
  console.log(
    `\nrpc ${names.pricing} {"sku":"A1"} → ${JSON.stringify(price)} in ${(performance.now() - t0).toFixed(1)} ms`,
  );

  const lost = stats.published - stats.consumed - stats.deadLettered;
  console.log(
    `\n${table(
      ['summary', 'value'],
      [
        ['published', formatNumber(stats.published)],
        ['confirmed', formatNumber(stats.confirmed)],
        ['consumed', formatNumber(stats.consumed)],
        ['retried', formatNumber(stats.retried)],
        ['dead-lettered', formatNumber(stats.deadLettered)],
        ['audit copies (quorum)', formatNumber(stats.audited)],
        ['lost', formatNumber(lost)],
        ['p50 confirm latency', `${formatNumber(percentile(latencies, 50), 2)} ms`],
        ['p99 confirm latency', `${formatNumber(percentile(latencies, 99), 2)} ms`],
      ],
    )}`,
  );
  if (lost !== 0 || stats.confirmed !== stats.published) {
    throw new WarrenError(`${lost} order(s) neither consumed nor dead-lettered`, { code: 'ERR_DEMO_LOST' });
  }
}

/** Deletes every queue and exchange of this run, including those the consumer declared for itself. */
async function cleanup(mq: AsyncRabbitMQ): Promise<void> {
  if (!mq.connection) return;
  const ch = await mq.connection.createChannel();
  for (const q of mq.config.queues) await ch.queueDelete({ queue: q.name });
  for (const x of mq.config.exchanges) await ch.exchangeDelete({ exchange: x.name });
  await ch.close();
  console.log(
    `\ncleaned up: ${mq.config.queues.length} queues and ${mq.config.exchanges.length} exchanges of run ${run}`,
  );
}

main().catch((err: unknown) => {
  if (err instanceof NoBrokerError) console.error(`demo: ${err.message}`);
  else if (err instanceof WarrenError) console.error(`demo failed: ${err.code}: ${err.message}`);
  else console.error('demo failed:', err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
