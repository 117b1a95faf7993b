import type { ClientAdapter } from '../clients/types.js';
import type { BenchConfig } from '../config.js';
import type { Measurement } from '../measure.js';

/** Broker-side set-up and checks, done by the orchestrator with warren (never measured). */
export interface BrokerAdmin {
  /** Declares a fresh durable queue (RabbitMQ 4.3 refuses transient non-exclusive ones); deleted after the run. */
  declare(queue: string, args?: Record<string, number | string>): Promise<void>;
  /** Publishes `n` persistent messages of `body` into `queue`, with confirms. */
  fill(queue: string, n: number, body: Buffer): Promise<void>;
  /** Ready messages in `queue`. */
  count(queue: string): Promise<number>;
  /** A fanout exchange bound to fresh durable queues. */
  declareFanout(exchange: string, queues: string[]): Promise<void>;
  /** Deletes a queue / an exchange; never throws (clean-up). */
  delete(queue: string): Promise<void>;
  deleteExchange(exchange: string): Promise<void>;
}

/** What a worker knows about its run. */
export interface RunContext {
  url: string;
  queue: string;
  n: number;
  config: BenchConfig;
}

export interface MemorySample {
  /** Messages confirmed when the sample was taken. */
  messages: number;
  rss: number;
  heapUsed: number;
}

export interface RunResult extends Measurement {
  memory?: { samples: MemorySample[]; maxRss: number };
  /** Round-trip times of request/reply scenarios, in µs. */
  latency?: { p50Us: number; p99Us: number };
}

/**
 * A measured scenario. `prepare` and `verify` run in the orchestrator; `run` runs in a fresh worker
 * process and must measure only the part that the scenario is about.
 */
export interface Scenario {
  /** `throughput`: a pair of columns (msg/s, CPU µs/msg) in the main table; `memory`: the memory section. */
  section: 'throughput' | 'memory';
  /** Column heading, e.g. "publish". */
  label: string;
  /** Body bytes per message, for scenarios about large bodies (MB/s and CPU per MB are reported). */
  bytesPerMessage?(config: BenchConfig): number;
  /** Ratios vs the peers are shown for information only (the issue's ≤ 0.5× / ≥ 1× targets are for 100 B). */
  informational?: boolean;
  /** Removes what `prepare` made besides `queue` (which the orchestrator deletes). */
  cleanup?(admin: BrokerAdmin, queue: string): Promise<void>;
  /** Messages per run. */
  messages(config: BenchConfig): number;
  /** Runs per client (the median is reported). */
  runs(config: BenchConfig): number;
  /** Clients that run it by default; undefined: every client that supports it. */
  defaultClients?(config: BenchConfig): string[];
  supports(client: ClientAdapter): boolean;
  prepare(admin: BrokerAdmin, queue: string, n: number, config: BenchConfig): Promise<void>;
  run(client: ClientAdapter, ctx: RunContext): Promise<RunResult>;
  /** Returns what is wrong with the broker's state after the run, or undefined. */
  verify(admin: BrokerAdmin, queue: string, n: number, config: BenchConfig): Promise<string | undefined>;
}
