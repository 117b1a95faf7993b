/**
 * What each command accepts and how it is explained: its synopsis, its options (checked strictly by
 * `node:util` parseArgs), its help text and an example. `warren <command> --help` prints one entry.
 */
import type { ParseArgsConfig } from 'node:util';

type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** One command of the `warren` tool. */
export interface CommandSpec {
  name: string;
  /** Arguments after the command name, e.g. `<queue>`. */
  args: string;
  summary: string;
  options: OptionSpec;
  /** `[flag, explanation]` lines of the help. */
  help: [string, string][];
  examples: string[];
}

const URL_HELP: [string, string] = ['--url URL', 'amqp[s]://user:pass@host:port/vhost (default: RABBITMQ_URL, ...)'];
const JSON_OUT: [string, string] = ['--json', 'print one JSON document instead of text'];
const common: OptionSpec = { url: { type: 'string' }, help: { type: 'boolean', short: 'h' } };

/** Every command, in the order the global help lists them. */
export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'ping',
    args: '',
    summary: 'connect; print the server and the negotiated limits',
    options: { ...common, json: { type: 'boolean' } },
    help: [URL_HELP, JSON_OUT],
    examples: ['warren ping --url amqp://guest:guest@localhost:5672/'],
  },
  {
    name: 'doctor',
    args: '',
    summary: 'check the server, its capabilities and your configure/write/read permissions',
    options: { ...common, json: { type: 'boolean' } },
    help: [URL_HELP, JSON_OUT],
    examples: ['warren doctor --url amqp://app:secret@rabbit:5672/shop', 'warren doctor --json | jq .permissions'],
  },
  {
    name: 'validate',
    args: '<config>',
    summary: 'check a topology file (JSON, YAML or a defineConfig module) without connecting',
    options: { help: common.help!, json: { type: 'boolean' } },
    help: [JSON_OUT],
    examples: ['warren validate topology.yaml'],
  },
  {
    name: 'declare',
    args: '<config>',
    summary: 'validate and declare a topology',
    options: { ...common, json: { type: 'boolean' } },
    help: [URL_HELP, JSON_OUT],
    examples: ['warren declare topology.json'],
  },
  {
    name: 'topology',
    args: '<config>',
    summary: 'draw a topology: exchanges → bindings → queues, retry and dead-letter paths dashed',
    options: { help: common.help!, format: { type: 'string' } },
    help: [['--format mermaid|dot', 'Mermaid flowchart (default) or Graphviz dot']],
    examples: [
      'warren topology topology.yaml > topology.mmd',
      'warren topology topology.json --format dot | dot -Tsvg > t.svg',
    ],
  },
  {
    name: 'publish',
    args: '[routingKey] [body]',
    summary: 'publish messages (argument, --file or stdin; NDJSON with --ndjson), each confirmed',
    options: {
      ...common,
      exchange: { type: 'string' },
      header: { type: 'string', multiple: true },
      'content-type': { type: 'string' },
      json: { type: 'boolean' },
      transient: { type: 'boolean' },
      'no-mandatory': { type: 'boolean' },
      count: { type: 'string' },
      rate: { type: 'string' },
      ndjson: { type: 'boolean' },
      file: { type: 'string' },
    },
    help: [
      URL_HELP,
      ['--exchange NAME', 'exchange to publish to (default "": the routing key names the queue)'],
      ['--header key=value', 'a message header (repeatable)'],
      ['--content-type TYPE', 'content type of the message'],
      ['--json', 'the body is JSON (sent as application/json)'],
      ['--transient', 'delivery mode 1 (default persistent)'],
      ['--no-mandatory', 'do not fail when no queue is bound for the message'],
      ['--count N', 'publish the body N times'],
      ['--rate R', 'at most R messages a second'],
      ['--ndjson', 'one message a line: a JSON body, or {"body", "routingKey", "exchange", "properties"}'],
      ['--file PATH', 'read the body (or the NDJSON lines) from a file instead of stdin'],
    ],
    examples: [
      'warren publish orders.created \'{"id":1}\' --json --exchange orders --header x-tenant=acme',
      'warren publish jobs ping --count 10000 --rate 500',
      'warren get jobs --count 100 | warren publish --ndjson    # copy messages, properties included',
    ],
  },
  {
    name: 'get',
    args: '<queue>',
    summary: 'fetch messages with basic.get (left in the queue unless --ack)',
    options: { ...common, count: { type: 'string' }, ack: { type: 'boolean' }, json: { type: 'boolean' } },
    help: [URL_HELP, ['--count N', 'messages to fetch (default 1)'], ['--ack', 'remove them from the queue'], JSON_OUT],
    examples: ['warren get orders.created --count 10', 'warren get orders.dead --ack --json'],
  },
  {
    name: 'consume',
    args: '<queue>',
    summary: 'print messages as JSON lines (acked) until --count, Ctrl-C or SIGTERM',
    options: { ...common, count: { type: 'string' }, prefetch: { type: 'string' } },
    help: [
      URL_HELP,
      ['--count N', 'stop after N messages'],
      ['--prefetch N', 'unacked messages in flight (default 10)'],
    ],
    examples: ['warren consume orders.created --count 5'],
  },
  {
    name: 'rpc',
    args: '<routingKey> <body>',
    summary: 'call an RPC server over direct reply-to and print the reply',
    options: { ...common, json: { type: 'boolean' }, timeout: { type: 'string' }, exchange: { type: 'string' } },
    help: [
      URL_HELP,
      ['--json', 'the body is JSON'],
      ['--timeout MS', 'how long to wait for the reply (default 10000)'],
      ['--exchange NAME', 'exchange to send the request to (default "")'],
    ],
    examples: ['warren rpc pricing \'{"sku":"A1"}\' --json'],
  },
  {
    name: 'bench',
    args: '',
    summary: 'publish+confirm then consume+ack on a scratch queue; print msg/s, MB/s, CPU, latency',
    options: {
      ...common,
      size: { type: 'string' },
      count: { type: 'string' },
      consumers: { type: 'string' },
      json: { type: 'boolean' },
    },
    help: [
      URL_HELP,
      ['--size B', 'body size in bytes (default 100)'],
      ['--count N', 'messages (default 100000)'],
      ['--consumers N', 'consumers on the queue (default 1)'],
      JSON_OUT,
    ],
    examples: ['warren bench --size 1024 --count 20000 --consumers 2'],
  },
  {
    name: 'purge',
    args: '<queue>',
    summary: 'remove the ready messages of a queue',
    options: { ...common },
    help: [URL_HELP],
    examples: ['warren purge orders.dead'],
  },
  {
    name: 'delete',
    args: 'queue|exchange <name>',
    summary: 'delete a queue or an exchange',
    options: { ...common, 'if-unused': { type: 'boolean' }, 'if-empty': { type: 'boolean' } },
    help: [
      URL_HELP,
      ['--if-unused', 'only if it has no consumers (queue) or bindings (exchange)'],
      ['--if-empty', 'only if the queue has no messages'],
    ],
    examples: ['warren delete queue orders.tmp --if-empty', 'warren delete exchange orders.old --if-unused'],
  },
];

/** `warren <name> <args> [options]`. */
export function synopsis(c: CommandSpec): string {
  return `warren ${c.name}${c.args ? ` ${c.args}` : ''} [options]`;
}

/** The help of one command: synopsis, summary, options, examples. */
export function commandHelp(c: CommandSpec): string {
  const width = Math.max(...c.help.map(([f]) => f.length), '-h, --help'.length) + 2;
  const opts = [...c.help, ['-h, --help', 'this text'] as [string, string]].map(([f, t]) => `  ${f.padEnd(width)}${t}`);
  return [
    `usage: ${synopsis(c)}`,
    '',
    c.summary,
    '',
    'options:',
    ...opts,
    '',
    c.examples.length > 1 ? 'examples:' : 'example:',
    ...c.examples.map((e) => `  ${e}`),
  ].join('\n');
}

/** The global help: every command in one line each. */
export function globalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => `${c.name} ${c.args}`.length)) + 2;
  return [
    'usage: warren <command> [options]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${`${c.name} ${c.args}`.padEnd(width)}${c.summary}`),
    '',
    'Settings come from --url or the environment (RABBITMQ_URL, or RABBITMQ_HOST, RABBITMQ_PORT,',
    'RABBITMQ_DEFAULT_USER, RABBITMQ_DEFAULT_PASS, RABBITMQ_VHOST).',
    "Run 'warren <command> --help' for a command's options and an example; 'warren --version' for the version.",
  ].join('\n');
}
