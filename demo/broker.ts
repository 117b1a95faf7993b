/**
 * Finds the broker for `npm run demo`: RABBITMQ_URL or localhost. When nothing answers on this machine's
 * port 5672 and `rabbitmq-server` is installed, starts it (`rabbitmq-server -detached`) and waits for it;
 * otherwise says exactly how to get one.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';

/** What {@link ensureBroker} needs from the machine (replaced in tests). */
export interface BrokerHost {
  /** Whether something accepts TCP connections at host:port within `timeoutMs`. */
  answers(host: string, port: number, timeoutMs: number): Promise<boolean>;
  /** The path of an executable on PATH, or undefined. */
  which(name: string): string | undefined;
  /** Runs a command to completion; its exit status. */
  run(command: string, args: string[], timeoutMs: number): number | null;
  log(line: string): void;
}

/** How to get a broker, printed when there is none. */
export const HOW_TO_GET_ONE = [
  'Get one, then run `npm run demo` again:',
  '  Debian/Ubuntu:  sudo apt-get install rabbitmq-server && sudo rabbitmq-server -detached',
  '  macOS:          brew install rabbitmq && brew services start rabbitmq',
  '  Docker:         docker run -d --name rabbitmq -p 5672:5672 rabbitmq:4',
  '  elsewhere:      RABBITMQ_URL=amqp://user:pass@host:5672/vhost npm run demo',
].join('\n');

/** A broker that cannot be reached or started: the message says why and how to get one. */
export class NoBrokerError extends Error {
  override readonly name = 'NoBrokerError';
}

const LOCAL = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/** The process's machine. */
export const realHost: BrokerHost = {
  answers: (host, port, timeoutMs) =>
    new Promise((resolve) => {
      const s = connect({ host: host.replace(/^\[|\]$/g, ''), port });
      const done = (ok: boolean) => {
        clearTimeout(timer);
        s.destroy();
        resolve(ok);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      s.once('connect', () => done(true));
      s.once('error', () => done(false));
    }),
  which: (name) => {
    for (const dir of (process.env.PATH ?? '').split(delimiter)) {
      if (dir && existsSync(join(dir, name))) return join(dir, name);
    }
    return undefined;
  },
  run: (command, args, timeoutMs) => spawnSync(command, args, { stdio: 'ignore', timeout: timeoutMs }).status,
  log: (line) => console.log(line),
};

/** Resolves once a broker answers at `url`, starting the local one if that is what is missing. */
export async function ensureBroker(url: string, host: BrokerHost = realHost): Promise<void> {
  const u = new URL(url);
  const port = Number(u.port || (u.protocol === 'amqps:' ? 5671 : 5672));
  if (await host.answers(u.hostname, port, 2000)) return;
  const where = `${u.hostname}:${port}`;
  if (!LOCAL.has(u.hostname) || port !== 5672) {
    throw new NoBrokerError(`nothing answers at ${where} (from RABBITMQ_URL).\n${HOW_TO_GET_ONE}`);
  }
  const server = host.which('rabbitmq-server');
  if (server === undefined) {
    throw new NoBrokerError(`nothing answers at ${where}, and rabbitmq-server is not installed.\n${HOW_TO_GET_ONE}`);
  }
  host.log(`nothing answers at ${where}: starting the installed RabbitMQ (${server} -detached) ...`);
  host.run(server, ['-detached'], 30_000);
  const ctl = host.which('rabbitmqctl');
  if (ctl !== undefined) host.run(ctl, ['-q', 'await_startup', '--timeout', '90'], 100_000);
  for (let i = 0; i < 60; i++) {
    if (await host.answers(u.hostname, port, 1000)) {
      host.log('RabbitMQ started (stop it with: rabbitmqctl stop)');
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new NoBrokerError(`started rabbitmq-server, but nothing answers at ${where} after 60 s.\n${HOW_TO_GET_ONE}`);
}
