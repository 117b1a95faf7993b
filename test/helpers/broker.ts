import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The broker the integration tests use (`WARREN_TEST_URL`, default the local guest account). */
export function brokerUrl(): string {
  return process.env.WARREN_TEST_URL ?? 'amqp://guest:guest@127.0.0.1:5672/%2F';
}

/** A name no other test (or earlier run) uses: `warren-test.<label>.<random>`. */
export function uniqueName(label: string): string {
  return `warren-test.${label}.${randomBytes(6).toString('hex')}`;
}

/** Runs rabbitmqctl with a timeout; returns stdout. */
export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run('rabbitmqctl', args, { timeout: 60_000 });
  return stdout;
}
