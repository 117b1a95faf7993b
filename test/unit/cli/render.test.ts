import { describe, expect, it } from 'vitest';
import { bar, formatNumber, Progress, percentile, progressLine, table } from '../../../src/cli/render.js';

describe('cli rendering', () => {
  it('bar and progressLine', () => {
    expect(bar(0.5, 4)).toBe('[██░░]');
    expect(bar(2, 2)).toBe('[██]');
    expect(bar(Number.NaN, 2)).toBe('[░░]');
    expect(progressLine('publish', 25, 100, '5 msg/s')).toBe(`publish ${bar(0.25)}  25% 25/100 5 msg/s`);
    expect(progressLine('consume', 7, undefined)).toBe('consume 7');
  });

  it('Progress redraws in place on a terminal (throttled) and stays silent elsewhere', () => {
    let now = 0;
    const tty: string[] = [];
    const p = new Progress({ write: (t) => tty.push(t), isTTY: true, columns: 10 }, { now: () => now });
    p.update('a');
    p.update('b'); // throttled
    now = 200;
    p.update('a very long line');
    p.done('end');
    expect(tty).toEqual(['\r\x1b[2Ka', '\r\x1b[2Ka very lo', '\r\x1b[2Kend\n']);

    const plain: string[] = [];
    const q = new Progress({ write: (t) => plain.push(t) }, { now: () => now });
    q.update('x');
    q.done('done');
    expect(plain).toEqual(['done\n']);
    const every: string[] = [];
    const r = new Progress({ write: (t) => every.push(t) }, { now: () => now, plainEveryMs: 1000 });
    r.update('1');
    r.update('2');
    now = 1300;
    r.update('3');
    expect(every).toEqual(['1\n', '3\n']);
  });

  it('table aligns columns and right-aligns numbers', () => {
    expect(
      table(
        ['metric', 'value'],
        [
          ['published', '1,000'],
          ['p50', '1.25 ms'],
        ],
      ).split('\n'),
    ).toEqual(['metric     value', '─────────  ───────', 'published    1,000', 'p50        1.25 ms']);
  });

  it('formatNumber and percentile', () => {
    expect(formatNumber(12345.6)).toBe('12,346');
    expect(formatNumber(1.234, 2)).toBe('1.23');
    expect(formatNumber(Number.NaN)).toBe('-');
    const v = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(v, 50)).toBe(50);
    expect(percentile(v, 99)).toBe(99);
    expect(percentile([], 50)).toBeNaN();
  });
});
