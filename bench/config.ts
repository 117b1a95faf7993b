/** Benchmark settings, read from the environment (see the top of bench/run.ts). */

/** How a worker hands its result (JSON) or failure (a JSON string) to the orchestrator on stdout. */
export const RESULT_MARK = '@@result ';
export const ERROR_MARK = '@@error ';

function intEnv(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw.replace(/_/g, ''));
  if (!Number.isInteger(value) || value < min)
    throw new Error(`${name} must be an integer of at least ${min}, got ${JSON.stringify(raw)}`);
  return value;
}

function listEnv(name: string): string[] | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export interface BenchConfig {
  /** Broker URL every client connects to. */
  url: string;
  /** Messages per throughput run (BENCH_N). */
  n: number;
  /** Runs per (client, scenario) in the throughput section (BENCH_REPEAT); the median is reported. */
  repeat: number;
  /**
   * Calls per blocking-publish run (BENCH_BLOCKING_N): one confirmed publish per call takes a broker
   * round trip with its disk write (~1.5 ms), so BENCH_N of them would take minutes.
   */
  blockingN: number;
  /**
   * Messages published (publish) or consumed (consume) before the measured `n`, through the same
   * connection, by every client alike (BENCH_WARMUP; 0 measures from the first message). What the
   * targets are about is a long-running service's steady state, not the JIT compilation and first
   * garbage collections of a fresh process, which weigh more the more code a client runs per message.
   */
  warmUp: number;
  /** Messages published in the memory section (BENCH_RSS_N). */
  rssN: number;
  /** RSS is sampled every this many confirmed messages (BENCH_RSS_EVERY). */
  rssEvery: number;
  /** Unconfirmed publishes allowed at once. */
  window: number;
  /** basic.qos prefetch of the consumers. */
  prefetch: number;
  /** Message body size in bytes. */
  bodySize: number;
  /** Only these clients (BENCH_CLIENTS=warren,amqplib); all registered ones when unset. */
  clients: string[] | undefined;
  /** Only these scenarios (BENCH_SCENARIOS=publish,consume,memory); all when unset. */
  scenarios: string[] | undefined;
  /** Clients of the memory sections (BENCH_RSS_CLIENTS): default warren (engine), warren-mq (publishMessage, mq.consume) and amqplib. */
  rssClients: string[];
  /** When set, workers run with --cpu-prof and write their profiles here (BENCH_CPU_PROF=/tmp/prof). */
  cpuProfDir: string | undefined;
  /** Where the JSON results go (BENCH_OUT). */
  out: string;
}

export function loadConfig(): BenchConfig {
  return {
    url: process.env.BENCH_URL ?? process.env.WARREN_TEST_URL ?? 'amqp://guest:guest@127.0.0.1:5672/%2F',
    n: intEnv('BENCH_N', 100_000),
    repeat: intEnv('BENCH_REPEAT', 3),
    blockingN: intEnv('BENCH_BLOCKING_N', 5000),
    warmUp: intEnv('BENCH_WARMUP', 10_000, 0),
    rssN: intEnv('BENCH_RSS_N', 1_000_000),
    rssEvery: intEnv('BENCH_RSS_EVERY', 100_000),
    window: intEnv('BENCH_WINDOW', 1000),
    prefetch: intEnv('BENCH_PREFETCH', 1000),
    bodySize: intEnv('BENCH_BODY_SIZE', 100),
    clients: listEnv('BENCH_CLIENTS'),
    scenarios: listEnv('BENCH_SCENARIOS'),
    rssClients: listEnv('BENCH_RSS_CLIENTS') ?? ['warren', 'warren-mq', 'amqplib'],
    cpuProfDir: process.env.BENCH_CPU_PROF || undefined,
    out: process.env.BENCH_OUT ?? '.bench-results/latest.json',
  };
}
