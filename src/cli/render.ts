/**
 * Terminal output of the CLI and the demo: a one-line progress bar that rewrites itself on a terminal,
 * and plain aligned tables. Small enough not to need a library; tested in test/unit/cli/render.test.ts.
 */

/** Where progress goes: a stream with `write`, and whether it is a terminal (only then is the line redrawn). */
export interface ProgressSink {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** `[██████░░░░]` of `width` cells for a fraction 0..1 (clamped). */
export function bar(fraction: number, width = 24): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const full = Math.round(f * width);
  return `[${'█'.repeat(full)}${'░'.repeat(width - full)}]`;
}

/** A progress line: `label [bar] 42% 420/1000 extra`. Without a total, only the count and extra. */
export function progressLine(label: string, done: number, total: number | undefined, extra = ''): string {
  const parts = [label];
  if (total !== undefined && total > 0) {
    parts.push(bar(done / total), `${String(Math.floor((100 * done) / total)).padStart(3)}%`, `${done}/${total}`);
  } else {
    parts.push(String(done));
  }
  if (extra) parts.push(extra);
  return parts.join(' ');
}

/**
 * A line redrawn in place on a terminal (`\r` + clear to end of line), throttled to `intervalMs`.
 * On anything else it writes nothing until {@link Progress.done}, unless `plainEveryMs` asks for a plain
 * line now and then (the demo's log stays readable in CI).
 */
export class Progress {
  private lastDraw = 0;
  private lastPlain: number | undefined;
  private drawn = false;

  constructor(
    private readonly sink: ProgressSink,
    private readonly options: { intervalMs?: number; plainEveryMs?: number; now?: () => number } = {},
  ) {}

  /** Shows `line` (throttled unless `force`). */
  update(line: string, force = false): void {
    const now = (this.options.now ?? Date.now)();
    if (this.sink.isTTY) {
      if (!force && this.drawn && now - this.lastDraw < (this.options.intervalMs ?? 100)) return;
      const width = this.sink.columns ?? 0;
      const shown = width > 1 && line.length >= width ? line.slice(0, width - 1) : line;
      this.sink.write(`\r\x1b[2K${shown}`);
      this.drawn = true;
      this.lastDraw = now;
      return;
    }
    const every = this.options.plainEveryMs;
    if (every === undefined) return;
    if (!force && this.lastPlain !== undefined && now - this.lastPlain < every) return;
    this.sink.write(`${line}\n`);
    this.lastPlain = now;
  }

  /** Ends the line on a terminal with `line` (kept on screen); elsewhere writes `line` once. */
  done(line: string): void {
    if (this.sink.isTTY) this.sink.write(`\r\x1b[2K${line}\n`);
    else this.sink.write(`${line}\n`);
    this.drawn = false;
  }

  /** Clears a drawn line without printing anything (before other output, on a terminal). */
  clear(): void {
    if (this.sink.isTTY && this.drawn) this.sink.write('\r\x1b[2K');
    this.drawn = false;
  }
}

/** Cells that look like numbers are right-aligned. */
const NUMERIC = /^[-+]?[\d,.]+\s*(%|µs|ms|s|MB\/s|msg\/s)?$/;

/**
 * An aligned table with a header rule:
 * ```
 * metric     value
 * ─────────  ─────
 * published    100
 * ```
 */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (NUMERIC.test(c) && i > 0 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** 12345.6 → `12,346`; small values keep `digits` decimals. */
export function formatNumber(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return '-';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** The `p`-th percentile (0..100) of `values`, nearest-rank; NaN for none. Sorts a copy. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}
