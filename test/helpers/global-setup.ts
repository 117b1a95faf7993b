import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { BROKER4_SCRIPT, brokerUrl, TEST_BROKERS } from './broker.js';

const run = promisify(execFile);

/** What vitest passes to a global setup: the project, whose `env` says which broker it tests. */
interface ProjectLike {
  config?: { env?: Record<string, string | undefined> };
}

/**
 * Fails the run early, with one clear message, when the project's broker is not reachable; the
 * RabbitMQ 4 broker is started (and built, the first time) with scripts/broker4.sh when it is not up.
 */
export default async function setup(project?: ProjectLike): Promise<void> {
  const env = project?.config?.env ?? {};
  const broker = env.WARREN_TEST_BROKER ?? process.env.WARREN_TEST_BROKER ?? '3';
  const url = new URL(env.WARREN_TEST_URL ?? (broker === '4' ? TEST_BROKERS['4'].url : brokerUrl()));
  const port = Number(url.port || 5672);
  if (broker === '4' && !(await reachable(url.hostname, port).catch(() => false))) {
    process.stderr.write(`RabbitMQ 4 is not up on ${url.hostname}:${port}: running ${BROKER4_SCRIPT} up\n`);
    const { stdout } = await run('bash', [BROKER4_SCRIPT, 'up'], { timeout: 15 * 60_000 });
    process.stderr.write(stdout);
  }
  const hint = broker === '4' ? `bash ${BROKER4_SCRIPT} up` : 'rabbitmq-server -detached';
  const problem = await reachable(url.hostname, port).then(
    (ok) => (ok ? undefined : 'timed out'),
    (err: Error) => err.message,
  );
  if (problem !== undefined) {
    throw new Error(`RabbitMQ is not reachable at ${url.hostname}:${port}: ${problem} (start it: ${hint})`);
  }
}

/** True when something accepts a TCP connection there within 5 s; rejects with the socket error. */
function reachable(host: string, port: number): Promise<boolean> {
  return new Promise<boolean>((resolve, reject) => {
    const s = connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 5000);
    s.once('connect', () => {
      clearTimeout(timer);
      s.end();
      resolve(true);
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
