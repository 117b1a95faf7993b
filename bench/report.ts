/** Turns the runs into medians, warren/peer ratios and the memory verdicts, and prints them. */
import type { BenchConfig } from './config.js';
import { MiB, median } from './measure.js';
import type { MemorySample, RunResult } from './scenarios/types.js';
import type { TargetResult } from './targets.js';

/** One worker run, as recorded (and written to the JSON file). */
export interface RunRecord {
  client: string;
  scenario: string;
  /** 1-based repetition. */
  rep: number;
  n: number;
  queue: string;
  result?: RunResult;
  /** The worker failed. */
  error?: string;
  /** The worker finished but the broker's state was wrong afterwards (the run is not counted). */
  problem?: string;
  /** Wall time of the whole run including set-up and process start, in seconds. */
  seconds: number;
}

/** The median of one (client, scenario) over its good runs. */
export interface Cell {
  msgPerSec: number;
  cpuUsPerMsg: number;
  runs: number;
  all: { msgPerSec: number[]; cpuUsPerMsg: number[] };
  /** Medians of the runs' round-trip percentiles (request/reply scenarios). */
  latency?: { p50Us: number; p99Us: number };
}

export type ThroughputSummary = Record<string, Record<string, Cell | undefined>>;

export interface Ratio {
  subject: string;
  scenario: string;
  metric: 'cpu' | 'throughput';
  ratio: number;
  subjectValue: number;
  bestPeer: string;
  bestPeerValue: number;
  /** CPU: ratio ≤ 0.5; throughput: ratio ≥ 1; "none" for a subject measured for information. */
  target: string;
  /** Null when the subject has no target. */
  holds: boolean | null;
}

export interface MemorySummary {
  client: string;
  scenario: string;
  n: number;
  samples: MemorySample[];
  /** Highest sampled RSS. */
  peakRss: number;
  /** Peak RSS of the whole process (getrusage), start-up included. */
  maxRss: number;
  referenceAt?: number;
  referenceRss?: number;
  endRss: number;
  limitRss?: number;
  verdict: 'flat' | 'growing' | 'n/a';
  msgPerSec: number;
  cpuUsPerMsg: number;
}

export const CPU_TARGET = 0.5;
export const THROUGHPUT_TARGET = 1;
/** RSS is compared with the sample taken after this many messages... */
export const RSS_REFERENCE_AT = 200_000;
/** ...and may grow by this fraction or RSS_SLACK_BYTES, whichever is larger, and still be "flat". */
export const RSS_SLACK = 0.2;
export const RSS_SLACK_BYTES = 30 * MiB;

const good = (r: RunRecord): r is RunRecord & { result: RunResult } => r.result !== undefined && !r.problem;

export function summarizeThroughput(records: RunRecord[], clients: string[], scenarios: string[]): ThroughputSummary {
  const summary: ThroughputSummary = {};
  for (const client of clients) {
    summary[client] = {};
    for (const scenario of scenarios) {
      const runs = records.filter((r) => r.client === client && r.scenario === scenario).filter(good);
      if (runs.length === 0) continue;
      const msgPerSec = runs.map((r) => r.result.msgPerSec);
      const cpuUsPerMsg = runs.map((r) => r.result.cpuUsPerMsg);
      const lat = runs.flatMap((r) => (r.result.latency ? [r.result.latency] : []));
      summary[client]![scenario] = {
        msgPerSec: median(msgPerSec),
        cpuUsPerMsg: median(cpuUsPerMsg),
        runs: runs.length,
        all: { msgPerSec, cpuUsPerMsg },
        ...(lat.length
          ? { latency: { p50Us: median(lat.map((l) => l.p50Us)), p99Us: median(lat.map((l) => l.p99Us)) } }
          : {}),
      };
    }
  }
  return summary;
}

export function computeRatios(
  summary: ThroughputSummary,
  subjects: string[],
  peers: string[],
  scenarios: string[],
  /** The subjects the targets apply to; the others get target "none". */
  targeted: ReadonlySet<string>,
  /** Scenarios compared for information only (target "none"). */
  informational: ReadonlySet<string> = new Set(),
): Ratio[] {
  const ratios: Ratio[] = [];
  for (const subject of subjects) {
    for (const scenario of scenarios) {
      const mine = summary[subject]?.[scenario];
      const theirs = peers.flatMap((p) => {
        const cell = summary[p]?.[scenario];
        return cell ? [{ peer: p, cell }] : [];
      });
      if (!mine || theirs.length === 0) continue;
      const cheapest = theirs.reduce((a, b) => (b.cell.cpuUsPerMsg < a.cell.cpuUsPerMsg ? b : a));
      const fastest = theirs.reduce((a, b) => (b.cell.msgPerSec > a.cell.msgPerSec ? b : a));
      const cpu = mine.cpuUsPerMsg / cheapest.cell.cpuUsPerMsg;
      const hasTarget = targeted.has(subject) && !informational.has(scenario);
      ratios.push({
        subject,
        scenario,
        metric: 'cpu',
        ratio: cpu,
        subjectValue: mine.cpuUsPerMsg,
        bestPeer: cheapest.peer,
        bestPeerValue: cheapest.cell.cpuUsPerMsg,
        target: hasTarget ? `≤ ${CPU_TARGET}×` : 'none',
        holds: hasTarget ? cpu <= CPU_TARGET : null,
      });
      const tput = mine.msgPerSec / fastest.cell.msgPerSec;
      ratios.push({
        subject,
        scenario,
        metric: 'throughput',
        ratio: tput,
        subjectValue: mine.msgPerSec,
        bestPeer: fastest.peer,
        bestPeerValue: fastest.cell.msgPerSec,
        target: hasTarget ? `≥ ${THROUGHPUT_TARGET}×` : 'none',
        holds: hasTarget ? tput >= THROUGHPUT_TARGET : null,
      });
    }
  }
  return ratios;
}

export function summarizeMemory(records: RunRecord[]): MemorySummary[] {
  return records.filter(good).flatMap((r) => {
    const memory = r.result.memory;
    if (!memory || memory.samples.length === 0) return [];
    const samples = memory.samples;
    const end = samples.at(-1)!;
    const reference = samples.find((s) => s.messages >= RSS_REFERENCE_AT);
    const summary: MemorySummary = {
      client: r.client,
      scenario: r.scenario,
      n: r.n,
      samples,
      peakRss: Math.max(...samples.map((s) => s.rss)),
      maxRss: memory.maxRss,
      endRss: end.rss,
      verdict: 'n/a',
      msgPerSec: r.result.msgPerSec,
      cpuUsPerMsg: r.result.cpuUsPerMsg,
    };
    if (reference && end.messages > reference.messages) {
      const limit = reference.rss + Math.max(reference.rss * RSS_SLACK, RSS_SLACK_BYTES);
      summary.referenceAt = reference.messages;
      summary.referenceRss = reference.rss;
      summary.limitRss = limit;
      summary.verdict = end.rss <= limit ? 'flat' : 'growing';
    }
    return [summary];
  });
}

// ---- text output ----

const int = (v: number) => Math.round(v).toLocaleString('en-US');
const fixed = (v: number, digits = 2) => v.toFixed(digits);
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)}`;

/** A plain text table; columns after the first are right-aligned. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n');
}

export function formatThroughput(
  summary: ThroughputSummary,
  records: RunRecord[],
  clients: string[],
  scenarios: string[],
  config: BenchConfig,
): string {
  const header = ['client'];
  for (const s of scenarios) header.push(`${s} msg/s`, `${s} CPU µs/msg`);
  const rows = clients.map((client) => {
    const row = [client];
    for (const s of scenarios) {
      const cell = summary[client]?.[s];
      if (cell) {
        row.push(int(cell.msgPerSec), fixed(cell.cpuUsPerMsg));
        continue;
      }
      const tried = records.some((r) => r.client === client && r.scenario === s);
      row.push(tried ? 'failed' : '—', tried ? 'failed' : '—');
    }
    return row;
  });
  const title =
    `## throughput — median of ${config.repeat} run(s), ${int(config.n)} × ${config.bodySize} B persistent messages, ` +
    `publish window ${config.window}, prefetch ${config.prefetch}; publish and consume measured after ` +
    `${int(config.warmUp)} warm-up messages; CPU = user+system of the client process`;
  return `${title}\n\n${table(header, rows)}`;
}

export function formatRuns(summary: ThroughputSummary, clients: string[], scenarios: string[]): string {
  const rows: string[][] = [];
  for (const client of clients) {
    for (const s of scenarios) {
      const cell = summary[client]?.[s];
      if (!cell || cell.runs < 2) continue;
      rows.push([
        `${client} ${s}`,
        cell.all.msgPerSec.map(int).join(' / '),
        cell.all.cpuUsPerMsg.map((v) => fixed(v)).join(' / '),
      ]);
    }
  }
  if (rows.length === 0) return '';
  return `every run, in order:\n\n${table(['client scenario', 'msg/s', 'CPU µs/msg'], rows)}`;
}

export function formatRatios(ratios: Ratio[]): string {
  if (ratios.length === 0) return '## ratios: not enough results (a subject and at least one peer are needed)';
  const rows = ratios.map((r) => {
    const value = r.metric === 'cpu' ? `${fixed(r.subjectValue)} µs/msg` : `${int(r.subjectValue)} msg/s`;
    const peer = r.metric === 'cpu' ? `${fixed(r.bestPeerValue)} µs/msg` : `${int(r.bestPeerValue)} msg/s`;
    return [
      `${r.subject} ${r.scenario} ${r.metric === 'cpu' ? 'CPU' : 'throughput'}`,
      value,
      `${r.bestPeer} ${peer}`,
      `${fixed(r.ratio)}×`,
      r.target,
      r.holds === null ? 'info' : r.holds ? 'holds' : 'MISSED',
    ];
  });
  const header = ['comparison', 'measured', 'best peer', 'ratio', 'target', 'result'];
  return `## warren / best peer (CPU: vs the lowest peer CPU; throughput: vs the highest peer msg/s)\n\n${table(header, rows)}`;
}

/** The memory section of one scenario: `memory` (publishing) or `memory-consume`. */
export function formatMemory(
  memory: MemorySummary[],
  config: BenchConfig,
  maxLength: number,
  scenario = 'memory',
): string {
  const what =
    scenario === 'memory-consume'
      ? `${int(config.rssN)} messages consumed and acked (prefetch ${config.prefetch})`
      : `${int(config.rssN)} confirmed publishes (window ${config.window}) into a queue with x-max-length=${maxLength}`;
  const title = `## ${scenario} — ${what}; RSS in MiB every ${int(config.rssEvery)} messages`;
  if (memory.length === 0) return `${title}\n\n(no results)`;
  const points = [...new Set(memory.flatMap((m) => m.samples.map((s) => s.messages)))].sort((a, b) => a - b);
  const rows = points.map((p) => [
    int(p),
    ...memory.map((m) => {
      const s = m.samples.find((x) => x.messages === p);
      return s ? `${mib(s.rss)} (heap ${mib(s.heapUsed)})` : '';
    }),
  ]);
  rows.push(['peak sampled RSS', ...memory.map((m) => mib(m.peakRss))]);
  rows.push(['peak RSS (getrusage)', ...memory.map((m) => mib(m.maxRss))]);
  rows.push(['msg/s', ...memory.map((m) => int(m.msgPerSec))]);
  rows.push(['CPU µs/msg', ...memory.map((m) => fixed(m.cpuUsPerMsg))]);
  const verdicts = memory.map((m) => {
    if (m.verdict === 'n/a') return `${m.client}: n/a (needs samples after ${int(RSS_REFERENCE_AT)} messages)`;
    return (
      `${m.client}: ${m.verdict.toUpperCase()} — RSS at the end ${mib(m.endRss)} MiB vs ${mib(m.referenceRss!)} MiB ` +
      `at ${int(m.referenceAt!)} (limit ${mib(m.limitRss!)} MiB: +${RSS_SLACK * 100} % or +${RSS_SLACK_BYTES / MiB} MiB)`
    );
  });
  return `${title}\n\n${table(['messages', ...memory.map((m) => m.client)], rows)}\n\n${verdicts.join('\n')}`;
}

export function formatTargets(results: TargetResult[]): string {
  if (results.length === 0) return '';
  const unit = (r: TargetResult, v: number) =>
    r.metric === 'rate'
      ? `${int(v)} msg/s`
      : r.metric === 'wall'
        ? `${fixed(v, 1)} µs/msg wall`
        : `${fixed(v, 1)} µs/msg CPU`;
  const rows = results.map((r) => [
    r.what,
    `${r.subject.client} ${r.subject.scenario}: ${unit(r, r.subjectValue)}`,
    `${r.reference.client} ${r.reference.scenario}: ${unit(r, r.referenceValue)}`,
    `${fixed(r.ratio)}×`,
    r.info ? 'none' : r.metric === 'rate' ? `≥ ${r.min}×` : `≤ ${r.max}×`,
    r.holds === null ? 'info' : r.holds ? 'holds' : 'MISSED',
  ]);
  return `## targets (ratios within this run)\n\n${table(['target', 'subject', 'reference', 'ratio', 'target', 'result'], rows)}`;
}

/** MB/s and CPU ms per MB of the scenarios about large bodies. */
export function formatBytes(
  summary: ThroughputSummary,
  clients: string[],
  scenarios: string[],
  bytesOf: (scenario: string) => number | undefined,
): string {
  const sized = scenarios.filter((s) => bytesOf(s) !== undefined);
  if (sized.length === 0) return '';
  const header = ['client'];
  for (const s of sized) header.push(`${s} MB/s`, `${s} CPU ms/MB`);
  const rows = clients.map((client) => {
    const row = [client];
    for (const s of sized) {
      const cell = summary[client]?.[s];
      const bytes = bytesOf(s)!;
      if (!cell) row.push('—', '—');
      else row.push(fixed((cell.msgPerSec * bytes) / 1e6, 1), fixed((cell.cpuUsPerMsg / 1000) * (1e6 / bytes), 2));
    }
    return row;
  });
  return `## large bodies — MB = 10^6 bytes of body\n\n${table(header, rows)}`;
}

/** Round-trip p50 / p99 of the request/reply scenarios. */
export function formatLatency(summary: ThroughputSummary, clients: string[], scenarios: string[]): string {
  const rows: string[][] = [];
  for (const s of scenarios) {
    for (const client of clients) {
      const cell = summary[client]?.[s];
      if (!cell?.latency) continue;
      rows.push([
        `${client} ${s}`,
        int(cell.msgPerSec),
        fixed(cell.latency.p50Us, 0),
        fixed(cell.latency.p99Us, 0),
        fixed(cell.cpuUsPerMsg),
      ]);
    }
  }
  if (rows.length === 0) return '';
  return `## request/reply round trips\n\n${table(['client scenario', 'calls/s', 'p50 µs', 'p99 µs', 'CPU µs/call'], rows)}`;
}
