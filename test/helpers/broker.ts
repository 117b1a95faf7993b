import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** scripts/broker4.sh, which manages the RabbitMQ 4 node the tests also run against. */
export const BROKER4_SCRIPT: string = fileURLToPath(new URL('../../scripts/broker4.sh', import.meta.url));

/**
 * The brokers the integration suite runs against (one vitest project each, see vitest.config.ts):
 * the machine's RabbitMQ 3.10, and RabbitMQ 4 from scripts/broker4.sh, which refuses what 4.3 refuses
 * by default (transient non-exclusive queues, global qos).
 */
export const TEST_BROKERS = {
  '3': { url: 'amqp://guest:guest@127.0.0.1:5672/%2F', ctl: ['rabbitmqctl'] },
  '4': { url: 'amqp://guest:guest@127.0.0.1:5690/%2F', ctl: ['bash', BROKER4_SCRIPT, 'ctl'] },
} as const satisfies Record<string, { url: string; ctl: readonly string[] }>;

export type TestBrokerName = keyof typeof TEST_BROKERS;

/** Which broker this run uses: `WARREN_TEST_BROKER` (`3`, the default, or `4`). */
export function testBroker(): TestBrokerName {
  const name = process.env.WARREN_TEST_BROKER ?? '3';
  if (name !== '3' && name !== '4') throw new Error(`WARREN_TEST_BROKER must be 3 or 4, not ${JSON.stringify(name)}`);
  return name;
}

/** The broker the integration tests use (`WARREN_TEST_URL`, default the {@link testBroker}'s guest account). */
export function brokerUrl(): string {
  return process.env.WARREN_TEST_URL ?? TEST_BROKERS[testBroker()].url;
}

/** A name no other test (or earlier run) uses: `warren-test.<label>.<random>`. */
export function uniqueName(label: string): string {
  return `warren-test.${label}.${randomBytes(6).toString('hex')}`;
}

/** Runs rabbitmqctl against the node under test (the {@link testBroker}) with a timeout; returns stdout. */
export async function rabbitmqctl(...args: string[]): Promise<string> {
  const [command, ...prefix] = TEST_BROKERS[testBroker()].ctl;
  const { stdout } = await run(command, [...prefix, ...args], { timeout: 60_000 });
  return stdout;
}

/**
 * The major version of the RabbitMQ a connection talks to, from the `version` the broker announces in
 * connection.start (`"4.0.5"` → 4). For the few assertions where 3.10 and 4.x answer differently.
 */
export function brokerMajor(serverProperties: Record<string, unknown>): number {
  const raw = serverProperties.version;
  const text = typeof raw === 'string' ? raw : raw instanceof Uint8Array ? Buffer.from(raw).toString() : '';
  const major = Number.parseInt(text, 10);
  if (!Number.isInteger(major)) throw new Error(`the broker announced no version: ${String(raw)}`);
  return major;
}
