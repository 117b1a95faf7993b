#!/usr/bin/env node
/**
 * The `warren` command. Connection settings come from --url or the environment (RABBITMQ_URL, or
 * RABBITMQ_HOST / RABBITMQ_PORT / RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS / RABBITMQ_VHOST).
 * Exit codes: 0 done, 1 failed (the broker refused, a check failed, a message was not confirmed),
 * 2 the command line is wrong.
 */
import { parseArgs } from 'node:util';
import { VERSION } from '../index.js';
import { bench } from './bench.js';
import { consume, declare, get, ping, purge, remove, rpc, topology, validate } from './commands.js';
import { doctor } from './doctor.js';
import { explainFailure } from './failure.js';
import type { CliIO } from './io.js';
import { publish } from './publish.js';
import { COMMANDS, type CommandSpec, commandHelp, globalHelp, synopsis } from './spec.js';
import { positiveInt, positiveNumber, UsageError } from './usage.js';

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

const str = (v: Values, k: string) => v[k] as string | undefined;
const flag = (v: Values, k: string) => v[k] === true;

async function run(c: CommandSpec, p: string[], v: Values, io: CliIO): Promise<number> {
  const url = str(v, 'url');
  const json = flag(v, 'json');
  switch (c.name) {
    case 'ping':
      await ping({ url, json }, io);
      return 0;
    case 'doctor':
      return doctor({ url, json }, io);
    case 'validate':
      await validate(p[0], { json }, io);
      return 0;
    case 'declare':
      await declare(p[0], { url, json }, io);
      return 0;
    case 'topology':
      await topology(p[0], { format: str(v, 'format') }, io);
      return 0;
    case 'publish':
      return publish(
        p[0],
        p[1],
        {
          url,
          exchange: str(v, 'exchange'),
          header: (v.header as string[] | undefined) ?? [],
          contentType: str(v, 'content-type'),
          json,
          persistent: !flag(v, 'transient'),
          mandatory: !flag(v, 'no-mandatory'),
          count: positiveInt('count', str(v, 'count')),
          rate: positiveNumber('rate', str(v, 'rate')),
          ndjson: flag(v, 'ndjson'),
          file: str(v, 'file'),
        },
        io,
      );
    case 'get':
      await get(p[0], { url, json, count: positiveInt('count', str(v, 'count')), ack: flag(v, 'ack') }, io);
      return 0;
    case 'consume':
      await consume(
        p[0],
        { url, count: positiveInt('count', str(v, 'count')), prefetch: positiveInt('prefetch', str(v, 'prefetch')) },
        io,
      );
      return 0;
    case 'rpc':
      await rpc(
        p[0],
        p[1],
        { url, json, timeout: positiveInt('timeout', str(v, 'timeout')), exchange: str(v, 'exchange') },
        io,
      );
      return 0;
    case 'bench':
      await bench(
        {
          url,
          json,
          size: positiveInt('size', str(v, 'size')) ?? 100,
          count: positiveInt('count', str(v, 'count')) ?? 100_000,
          consumers: positiveInt('consumers', str(v, 'consumers')) ?? 1,
        },
        io,
      );
      return 0;
    case 'purge':
      await purge(p[0], { url }, io);
      return 0;
    case 'delete':
      await remove(p[0], p[1], { url, ifUnused: flag(v, 'if-unused'), ifEmpty: flag(v, 'if-empty') }, io);
      return 0;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(c.name)}`);
  }
}

/** The most positionals each command takes: more is a usage error, not silently ignored. */
function maxArgs(c: CommandSpec): number {
  return c.args === '' ? 0 : c.args.split(' ').length;
}

/** Runs the CLI with `argv` (without node and the script); returns the exit code. */
export async function main(argv: string[], io: CliIO): Promise<number> {
  const at = argv.findIndex((a) => !a.startsWith('-'));
  const name = at === -1 ? undefined : argv[at];
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    if (argv.includes('--version') || argv.includes('-v')) {
      io.out(`warren ${VERSION} (node ${process.version})`);
      return 0;
    }
    if (name === undefined && (argv.includes('--help') || argv.includes('-h'))) {
      io.out(globalHelp());
      return 0;
    }
    io.err(name === undefined ? 'warren: no command given' : `warren: unknown command ${JSON.stringify(name)}`);
    io.err("usage: warren <command> [options]   (run 'warren --help' for the commands)");
    return 2;
  }
  try {
    let values: Values;
    let positionals: string[];
    try {
      ({ values, positionals } = parseArgs({
        args: argv.filter((_a, i) => i !== at),
        options: command.options,
        allowPositionals: true,
        strict: true,
      }));
    } catch (err) {
      // parseArgs' messages are long and mention its own API: keep the first sentence.
      throw new UsageError(
        String((err as Error).message)
          .split('. ')[0]!
          .replace(/\.$/, ''),
      );
    }
    if (values.help) {
      io.out(commandHelp(command));
      return 0;
    }
    if (positionals.length > maxArgs(command))
      throw new UsageError(
        `too many arguments: ${positionals
          .slice(maxArgs(command))
          .map((a) => JSON.stringify(a))
          .join(' ')}`,
      );
    return await run(command, positionals, values, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`warren ${command.name}: ${err.message}`);
      io.err(`usage: ${synopsis(command)}   (run 'warren ${command.name} --help' for more)`);
      return 2;
    }
    io.err(explainFailure(err));
    return 1;
  }
}

function processIO(): CliIO {
  const interrupted = new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      resolve();
      // A second signal means "now": do not wait for in-flight messages any longer.
      process.once(signal, () => process.exit(130));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    stdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    },
    stdinIsTTY: process.stdin.isTTY === true,
    progress: process.stderr,
    interrupted,
  };
}

// This module is the program (the `warren` bin); nothing imports it.
main(process.argv.slice(2), processIO()).then((code) => {
  process.exitCode = code;
  // Pending signal listeners must not keep the process alive once the command is done.
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
});
