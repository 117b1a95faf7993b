/**
 * `npm run demo` as a newcomer runs it: its output, its exit code, and that it leaves nothing behind.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { brokerUrl, rabbitmqctl } from '../../helpers/broker.js';
import { root, runProgram } from './built.js';

const tsx = join(root, 'node_modules', '.bin', 'tsx');

describe('npm run demo', () => {
  it('declares, diagrams, retries and dead-letters, RPC, summary, exit 0, and cleans up', async () => {
    const r = await runProgram(tsx, ['demo/demo.ts'], {
      // Against the broker under test (the 3.10 and the 4.x project each run it once).
      env: { ...process.env, RABBITMQ_URL: brokerUrl(), WARREN_DEMO_SECONDS: '2' },
      timeoutMs: 60_000,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const run = /declared \(run ([0-9a-f]{6})\)/.exec(r.stdout)?.[1];
    expect(run).toBeDefined();
    expect(r.stdout).toContain('```mermaid\nflowchart LR');
    expect(r.stdout).toMatch(/q\d -\.->\|"retry after 300 ms"\| q\d/);
    expect(r.stdout).toMatch(/q\d -\.->\|"attempts exhausted"\| x\d/);
    expect(r.stdout).toContain('(quorum)');
    expect(r.stdout).toMatch(/orders \[[█░]+\] 100% (\d+)\/\1 /);
    expect(r.stdout).toMatch(/rpc \S+ \{"sku":"A1"\} → \{"sku":"A1","cents":999\}/);
    const figure = (name: string) =>
      Number(new RegExp(`^${name} +([\\d,]+)`, 'm').exec(r.stdout)?.[1]?.replace(/,/g, ''));
    const published = figure('published');
    expect(published).toBeGreaterThan(100);
    expect(figure('confirmed')).toBe(published);
    expect(figure('retried')).toBeGreaterThan(0);
    expect(figure('dead-lettered')).toBeGreaterThan(0);
    expect(figure('consumed') + figure('dead-lettered')).toBe(published);
    expect(figure('audit copies \\(quorum\\)')).toBe(published);
    expect(figure('lost')).toBe(0);
    expect(r.stdout).toMatch(/^p50 confirm latency +[\d.]+ ms$/m);
    expect(r.stdout).toMatch(/^p99 confirm latency +[\d.]+ ms$/m);
    expect(r.stdout).toContain(`cleaned up: 5 queues and 2 exchanges of run ${run}`);
    expect(await rabbitmqctl('-q', 'list_queues', 'name')).not.toContain(`warren.demo.${run}`);
    expect(await rabbitmqctl('-q', 'list_exchanges', 'name')).not.toContain(`warren.demo.${run}`);
  }, 60_000);

  it('with no broker at RABBITMQ_URL: says how to get one, exit 1, no stack trace', async () => {
    const r = await runProgram(tsx, ['demo/demo.ts'], {
      env: { ...process.env, RABBITMQ_URL: 'amqp://guest:guest@127.0.0.1:1/' },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('demo: nothing answers at 127.0.0.1:1');
    expect(r.stderr).toContain('apt-get install rabbitmq-server');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
