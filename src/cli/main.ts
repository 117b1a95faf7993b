#!/usr/bin/env node
/**
 * The `warren` command. Connection settings come from --url or the environment (RABBITMQ_URL, or
 * RABBITMQ_HOST / RABBITMQ_PORT / RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS / RABBITMQ_VHOST).
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { WarrenError } from '../protocol/errors.js';
import {
  type CliIO,
  type CliOptions,
  consumeCommand,
  declare,
  get,
  ping,
  publish,
  rpcCommand,
  UsageError,
  validate,
} from './commands.js';

export const USAGE = `usage: warren <command> [options]

commands:
  ping                              connect; print the server and the negotiated limits
  validate <config.json>            check a topology (RabbitMQConfig as JSON) without connecting
  declare <config.json>             validate and declare a topology
  publish <routingKey> [body]       publish one message (body from stdin if absent); waits for the confirm
  get <queue>                       fetch messages with basic.get (--count N, --ack to remove them)
  consume <queue>                   print messages as JSON lines until --count N or Ctrl-C
  rpc <routingKey> <body>           call an RPC server over direct reply-to and print the reply

options:
  --url URL                         amqp[s]://user:pass@host:port/vhost (default: from the environment)
  --exchange NAME                   exchange to publish to (default "")
  --header key=value                a message header (repeatable)
  --content-type TYPE               content type of the published message
  --json                            the body is JSON (sent as application/json)
  --transient                       publish with delivery mode 1 (default persistent)
  --no-mandatory                    do not fail when no queue is bound for the message
  --count N                         messages to get/consume
  --prefetch N                      prefetch for consume (default 10)
  --ack                             ack messages fetched by get
  --timeout MS                      rpc timeout (default 10000)
  -h, --help                        this text`;

function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0)
    throw new UsageError(`--${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

/** Runs the CLI with `argv` (without node and the script); returns the exit code. */
export async function main(argv: string[], io: CliIO): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        exchange: { type: 'string' },
        header: { type: 'string', multiple: true },
        'content-type': { type: 'string' },
        json: { type: 'boolean' },
        transient: { type: 'boolean' },
        'no-mandatory': { type: 'boolean' },
        count: { type: 'string' },
        prefetch: { type: 'string' },
        ack: { type: 'boolean' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    const [command, a, b] = positionals;
    if (values.help || command === undefined) {
      io.out(USAGE);
      return command === undefined && !values.help ? 2 : 0;
    }
    const o: CliOptions = {
      header: values.header ?? [],
      json: values.json ?? false,
      persistent: !values.transient,
      mandatory: !values['no-mandatory'],
      ack: values.ack ?? false,
    };
    if (values.url !== undefined) o.url = values.url;
    if (values.exchange !== undefined) o.exchange = values.exchange;
    if (values['content-type'] !== undefined) o.contentType = values['content-type'];
    const count = positiveInt('count', values.count);
    if (count !== undefined) o.count = count;
    const prefetch = positiveInt('prefetch', values.prefetch);
    if (prefetch !== undefined) o.prefetch = prefetch;
    const timeout = positiveInt('timeout', values.timeout);
    if (timeout !== undefined) o.timeout = timeout;
    switch (command) {
      case 'ping':
        await ping(o, io);
        break;
      case 'validate':
        validate(a, io);
        break;
      case 'declare':
        await declare(a, o, io);
        break;
      case 'publish':
        await publish(a, b, o, io);
        break;
      case 'get':
        await get(a, o, io);
        break;
      case 'consume':
        await consumeCommand(a, o, io);
        break;
      case 'rpc':
        await rpcCommand(a, b, o, io);
        break;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
    return 0;
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`warren: ${(err as Error).message}\n\n${USAGE}`);
      return 2;
    }
    if (err instanceof WarrenError) io.err(`warren: ${err.code}: ${err.message}`);
    else io.err(`warren: ${(err as Error)?.message ?? String(err)}`);
    return 1;
  }
}

function processIO(): CliIO {
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    stdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    },
    interrupted: new Promise((resolve) => process.once('SIGINT', () => resolve())),
  };
}

/** True when this file is the program being run (directly or through the `warren` bin link), not imported. */
function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  main(process.argv.slice(2), processIO()).then((code) => {
    process.exitCode = code;
    // A pending SIGINT listener must not keep the process alive once the command is done.
    process.removeAllListeners('SIGINT');
  });
}
