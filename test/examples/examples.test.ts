/**
 * Every script in examples/ runs against the real broker as README tells a user to run it
 * (`npx tsx examples/<name>.ts`), prints what it promises, exits 0, and leaves no queue or exchange behind.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rabbitmqctl } from '../helpers/broker.js';
import { root, runProgram } from '../integration/cli/built.js';

const tsx = join(root, 'node_modules', '.bin', 'tsx');
/** Queues and exchanges of the examples (all named `example.*`) that exist now. */
const exampleEntities = async () =>
  new Set([
    ...(await rabbitmqctl('-q', 'list_queues', 'name'))
      .split('\n')
      .filter((n) => n.startsWith('example.'))
      .map((n) => `queue ${n}`),
    ...(await rabbitmqctl('-q', 'list_exchanges', 'name'))
      .split('\n')
      .filter((n) => n.startsWith('example.'))
      .map((n) => `exchange ${n}`),
  ]);

const expected: Record<string, string[]> = {
  'work-queue': ['done: 19 jobs (worker-1 ', 'dead-lettered: 1'],
  'pub-sub': [
    'screen-1: maintenance at 22:00\n',
    'screen-2: maintenance at 22:00\n',
    'errors: card declined | label printer jammed\n',
    'billing: card declined | invoice sent\n',
  ],
  rpc: ['A1: 999 cents\n', 'B2: 1450 cents\n', 'ZZ: the server answered with an error: unknown sku ZZ\n'],
  'sync-client': ['basicGet: {"n":1}\n', 'consume: {"n":2}\nconsume: {"n":3}\n'],
};

describe('examples/', () => {
  for (const [name, lines] of Object.entries(expected)) {
    it(`${name}.ts runs, prints its results, exits 0 and cleans up`, async () => {
      const before = await exampleEntities();
      const r = await runProgram(tsx, [`examples/${name}.ts`], { timeoutMs: 30_000 });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      for (const line of lines) expect(r.stdout).toContain(line);
      const left = [...(await exampleEntities())].filter((q) => !before.has(q));
      expect(left).toEqual([]);
    }, 40_000);
  }
});
