/**
 * pika (Python, Debian's python3-pika) — the stack of the original Python module: a BlockingChannel with
 * confirm_delivery(). Runs bench/python/pika_blocking_publish.py with /usr/bin/python3 (BENCH_PYTHON to
 * override), which measures its own loop and reports the same fields as a Node run.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ClientAdapter, ExternalRun } from './types.js';

const SCRIPT = fileURLToPath(new URL('../python/pika_blocking_publish.py', import.meta.url));
const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';

const pika: ClientAdapter = {
  external: {
    scenarios: ['blocking-publish'],
    run(_scenario, { url, queue, n, bodySize }) {
      return new Promise<ExternalRun>((resolve, reject) => {
        execFile(
          PYTHON,
          [SCRIPT, url, queue, String(n), String(bodySize)],
          { timeout: 600_000 },
          (err, stdout, stderr) => {
            if (err) return reject(new Error(`pika run failed: ${err.message}\n${stderr}`));
            try {
              resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as ExternalRun);
            } catch {
              reject(new Error(`pika printed no result: ${stdout}\n${stderr}`));
            }
          },
        );
      });
    },
  },
};

export default pika;
