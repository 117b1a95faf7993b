/**
 * The `warren` command as a user runs it: the BUILT binary (`node dist/cli.cjs ...`) against the real
 * broker, checking its stdout, stderr and exit code.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../../src/engine.js';
import { brokerUrl, rabbitmqctl, uniqueName } from '../../helpers/broker.js';
import { waitFor } from '../../helpers/wait.js';
import { cliPath, ensureBuilt, inTerminal, root, spawnWarren, warren } from './built.js';

const url = brokerUrl();
const tmp = join(root, '.test-tmp', uniqueName('cli'));
const queues: string[] = [];
const exchanges: string[] = [];

function file(name: string, text: string): string {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
}

/** A durable queue of this test file (deleted afterwards). */
async function declareQueue(label: string): Promise<string> {
  const queue = uniqueName(label);
  queues.push(queue);
  const config = file(`${queue}.json`, JSON.stringify({ queues: [{ name: queue }] }));
  const r = await warren(['declare', config, '--url', url]);
  expect(r.code).toBe(0);
  return queue;
}

async function messageCount(queue: string): Promise<number> {
  const conn = await connect(url);
  try {
    const ch = await conn.createChannel();
    return (await ch.queueDeclare({ queue, passive: true })).messageCount;
  } finally {
    await conn.close();
  }
}

beforeAll(() => {
  ensureBuilt();
  mkdirSync(tmp, { recursive: true });
}, 120_000);

afterAll(async () => {
  rmSync(tmp, { recursive: true, force: true });
  const conn = await connect(url);
  const ch = await conn.createChannel();
  for (const queue of queues) await ch.queueDelete({ queue });
  for (const exchange of exchanges) await ch.exchangeDelete({ exchange });
  await conn.close();
});

describe('warren: help, version and usage errors', () => {
  it('--version prints the version; --help lists every command', async () => {
    const v = await warren(['--version']);
    expect(v).toMatchObject({ code: 0, stderr: '' });
    expect(v.stdout).toMatch(/^warren \d+\.\d+\.\d+ \(node v\d+/);
    const h = await warren(['--help']);
    expect(h.code).toBe(0);
    for (const c of [
      'ping',
      'doctor',
      'validate',
      'declare',
      'topology',
      'publish',
      'get',
      'consume',
      'rpc',
      'bench',
      'purge',
      'delete',
    ])
      expect(h.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
  });

  it('<command> --help prints that command, its options and an example, not the global help', async () => {
    const r = await warren(['publish', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('usage: warren publish [routingKey] [body] [options]');
    expect(r.stdout).toContain('--rate R');
    expect(r.stdout).toMatch(/examples?:\n {2}warren publish /);
    expect(r.stdout).not.toContain('commands:');
    const d = await warren(['delete', '-h']);
    expect(d.stdout).toMatch(/example:\n {2}warren delete queue|examples:\n {2}warren delete queue/);
  });

  it('a usage error prints one line and the command usage, exit 2', async () => {
    const r = await warren(['get', 'q', '--count', 'lots']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      'warren get: --count must be a positive integer, got "lots"',
      "usage: warren get <queue> [options]   (run 'warren get --help' for more)",
    ]);
    const unknownOption = await warren(['ping', '--frobnicate']);
    expect(unknownOption.code).toBe(2);
    expect(unknownOption.stderr.trimEnd().split('\n')).toHaveLength(2);
    expect(unknownOption.stderr).toContain("Unknown option '--frobnicate'");
    const unknown = await warren(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trimEnd().split('\n')).toHaveLength(2);
    expect((await warren([])).code).toBe(2);
    expect((await warren(['purge', 'a', 'b'])).stderr).toContain('too many arguments: "b"');
  });

  it('a broker that does not answer: one error line with the code, advice, exit 1, no stack', async () => {
    const r = await warren(['ping', '--url', 'amqp://guest:guest@127.0.0.1:1/']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^warren: ERR_\w+: .*ECONNREFUSED/);
    expect(r.stderr).toContain('is RabbitMQ running there?');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('warren: ping and doctor', () => {
  it('ping prints the server and the negotiated limits; --json the same as one document', async () => {
    const r = await warren(['ping', '--url', url]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/server: RabbitMQ \d+\.\d+/);
    expect(r.stdout).toMatch(/frame_max \d+, channel_max \d+, heartbeat \d+ s/);
    expect(r.stdout).not.toContain('guest:guest');
    const j = JSON.parse((await warren(['ping', '--json', '--url', url])).stdout);
    expect(j).toMatchObject({ ok: true, server: { product: 'RabbitMQ' } });
    expect(j.negotiated.frameMax).toBeGreaterThanOrEqual(8192);
  });

  it('doctor: server, capabilities, negotiated limits, configure/write/read tried for real, exit 0', async () => {
    const r = await warren(['doctor', '--url', url]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/capabilities: .*publisher_confirms/);
    expect(r.stdout).toMatch(/configure .*: ok\n.*write .*: ok\n.*read .*: ok/);
    const j = JSON.parse((await warren(['doctor', '--json', '--url', url])).stdout);
    expect(j).toMatchObject({
      ok: true,
      vhost: '/',
      permissions: { configure: { ok: true }, write: { ok: true }, read: { ok: true } },
    });
    // The scratch entities are gone.
    expect(await rabbitmqctl('-q', 'list_exchanges', 'name')).not.toContain('warren.doctor.');
  });

  it('doctor exits 1 when it cannot log in, and says why', async () => {
    const bad = new URL(url);
    bad.password = 'not-the-password';
    const r = await warren(['doctor', '--json', '--url', bad.href]);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j.ok).toBe(false);
    expect(j.connect.ok).toBe(false);
    expect(j.connect.error).toMatch(/ACCESS_REFUSED|403/);
    expect(r.stdout).not.toContain('not-the-password');
  });
});

describe('warren: topology files', () => {
  const yaml = [
    'exchanges:',
    '  - { name: orders, type: topic }',
    '  - { name: orders.dead, type: fanout }',
    'queues:',
    '  - name: orders.created',
    '    exchange: orders',
    '    routingKey: order.created',
    '    arguments: { x-dead-letter-exchange: orders.dead }',
    '  - { name: orders.dead, exchange: orders.dead, routingKey: "" }',
  ].join('\n');

  it('validate reads JSON, YAML and a defineConfig module; --json; the path and rule of a bad one', async () => {
    const y = file('topology.yaml', yaml);
    expect((await warren(['validate', y])).stdout.trim()).toBe(
      'valid: 2 exchange(s), 2 queue(s), 0 binding(s) in vhost /',
    );
    const m = file(
      'topology.mjs',
      "import { defineConfig } from 'warren';\nexport default defineConfig({ queues: [{ name: 'jobs' }] });\n",
    );
    expect(JSON.parse((await warren(['validate', m, '--json'])).stdout)).toEqual({
      valid: true,
      vhost: '/',
      exchanges: 0,
      queues: 1,
      bindings: 0,
    });
    const bad = await warren([
      'validate',
      file('bad.json', '{"queues":[{"name":"q","arguments":{"x-max-length":"ten"}}]}'),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('ERR_CONFIG_INVALID');
    expect(bad.stderr).toContain('queues[0].arguments["x-max-length"] must be a non-negative integer');
    const notYaml = await warren(['validate', file('broken.yml', 'queues: [ {')]);
    expect(notYaml.code).toBe(2);
    expect(notYaml.stderr).toContain('is not valid YAML');
  });

  it('topology draws Mermaid (default) and dot: bindings with keys, dead-letter edges dashed', async () => {
    const y = file('draw.yaml', yaml);
    const m = await warren(['topology', y]);
    expect(m.code).toBe(0);
    const lines = m.stdout.trim().split('\n');
    expect(lines[0]).toBe('flowchart LR');
    expect(lines).toContain('  x0{{"orders (topic)"}}');
    expect(lines).toContain('  q2[("orders.created")]');
    expect(lines).toContain('  x0 -->|"order.created"| q2');
    expect(lines).toContain('  q2 -.->|"dead-letter"| x1');
    const d = await warren(['topology', y, '--format', 'dot']);
    expect(d.stdout).toContain('digraph topology {');
    expect(d.stdout).toContain('q2 -> x1 [label="dead-letter", style=dashed];');
    expect(d.stdout).toContain('x0 -> q2 [label="order.created"];');
    expect((await warren(['topology', y, '--format', 'svg'])).code).toBe(2);
  });
});

describe('warren: publish, get, consume, rpc, purge, delete', () => {
  it('declare --json, publish (argument, stdin, headers, JSON), get --json and get --ack', async () => {
    const queue = uniqueName('cli');
    queues.push(queue);
    const config = file(`${queue}.yaml`, `queues:\n  - name: ${queue}\n`);
    const d = await warren(['declare', config, '--json', '--url', url]);
    expect(JSON.parse(d.stdout)).toMatchObject({ declared: true, queues: 1 });

    const p1 = await warren(['publish', queue, 'hello', '--url', url, '--header', 'x-tenant=acme']);
    expect(p1).toMatchObject({ code: 0, stdout: 'sent 1, confirmed 1, returned 0, nacked 0\n' });
    expect((await warren(['publish', queue, '--json', '--url', url], { stdin: '{"n": 2}' })).code).toBe(0);

    const peek = JSON.parse((await warren(['get', queue, '--count', '5', '--json', '--url', url])).stdout);
    expect(peek).toMatchObject({ queue, count: 2, acked: false });
    const got = await warren(['get', queue, '--count', '5', '--ack', '--url', url]);
    const messages = got.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(messages.map((m) => m.body)).toEqual(['hello', '{"n":2}']);
    expect(messages[0].properties.headers).toEqual({ 'x-tenant': 'acme' });
    expect(messages[0].properties.deliveryMode).toBe(2);
    expect(messages[1].properties.contentType).toBe('application/json');
    expect(got.stderr).toBe('2 message(s) (acked)\n');
    expect(await messageCount(queue)).toBe(0);
  });

  it('publish --count, --rate, --file, and NDJSON with properties; get output publishes back', async () => {
    const queue = await declareQueue('cli-many');
    const many = await warren(['publish', queue, 'x', '--count', '250', '--url', url]);
    expect(many.stdout).toBe('sent 250, confirmed 250, returned 0, nacked 0\n');
    expect(await messageCount(queue)).toBe(250);
    expect((await warren(['purge', queue, '--url', url])).stdout).toBe(`purged 250 message(s) from queue "${queue}"\n`);

    const paced = await warren(['publish', queue, 'x', '--count', '6', '--rate', '20', '--url', url]);
    expect(paced.stdout).toBe('sent 6, confirmed 6, returned 0, nacked 0\n');
    expect(paced.ms).toBeGreaterThanOrEqual(250); // 6 messages at 20/s: the last is due 250 ms after the first

    const body = file('body.bin', 'from a file');
    expect((await warren(['publish', queue, '--file', body, '--url', url])).code).toBe(0);
    const ndjson = [
      '{"n":1}',
      `{"body":"two","properties":{"messageId":"m-2","headers":{"x-k":"v"},"priority":3}}`,
      `{"bodyBase64":"3q2+7w==","routingKey":"${queue}"}`,
      '',
    ].join('\n');
    const n = await warren(['publish', queue, '--ndjson', '--url', url], { stdin: ndjson });
    expect(n.stdout).toBe('sent 3, confirmed 3, returned 0, nacked 0\n');

    const got = JSON.parse((await warren(['get', queue, '--count', '20', '--json', '--url', url])).stdout);
    expect(got.count).toBe(10);
    const last4 = got.messages.slice(6);
    expect(last4.map((m: { body?: string }) => m.body)).toEqual(['from a file', '{"n":1}', 'two', undefined]);
    expect(last4[2].properties).toMatchObject({ messageId: 'm-2', headers: { 'x-k': 'v' }, priority: 3 });
    expect(last4[3].bodyBase64).toBe('3q2+7w==');

    // What get prints is what publish --ndjson reads: copy the queue into another, properties and all.
    const copy = await declareQueue('cli-copy');
    const lines = (await warren(['get', queue, '--count', '20', '--url', url])).stdout;
    expect((await warren(['publish', copy, '--ndjson', '--url', url], { stdin: lines })).stdout).toBe(
      'sent 10, confirmed 10, returned 0, nacked 0\n',
    );
    const copied = JSON.parse((await warren(['get', copy, '--count', '20', '--json', '--url', url])).stdout);
    expect(copied.messages[8].properties.messageId).toBe('m-2');

    const badLine = await warren(['publish', queue, '--ndjson', '--url', url], { stdin: '{"n":1}\n{nope\n' });
    expect(badLine.code).toBe(2);
    expect(badLine.stderr).toContain('line 2: not valid JSON');
  });

  it('publish of unroutable messages: exit 1, the error code once, counted as returned', async () => {
    const nowhere = uniqueName('cli-nowhere');
    const r = await warren(['publish', nowhere, 'x', '--count', '3', '--url', url]);
    expect(r.code).toBe(1);
    expect(r.stderr.match(/ERR_UNROUTABLE/g)).toHaveLength(1);
    expect(r.stdout).toBe('sent 3, confirmed 0, returned 3, nacked 0\n');
    expect((await warren(['publish', nowhere, 'x', '--no-mandatory', '--url', url])).code).toBe(0);
  });

  it('publish on a terminal: refuses to wait for a body on stdin; draws a progress bar for many', async () => {
    const queue = await declareQueue('cli-tty');
    const wait = await inTerminal(`${process.execPath} ${cliPath} publish ${queue} --url ${url}`);
    expect(wait.code).toBe(2);
    expect(wait.stdout).toContain(
      'no body: give it as an argument, with --file, or pipe it on stdin (stdin is a terminal)',
    );
    const bar = await inTerminal(`${process.execPath} ${cliPath} publish ${queue} x --count 400 --url ${url}`);
    expect(bar.code).toBe(0);
    expect(bar.stdout).toContain('\r\x1b[2Kpublishing [');
    expect(bar.stdout).toMatch(/publishing \[[█░]+\] +\d+% \d+\/400/);
    expect(bar.stdout).toContain('sent 400, confirmed 400, returned 0, nacked 0');
    expect(await messageCount(queue)).toBe(400);
  });

  it('consume prints until --count and leaves the rest in the queue', async () => {
    const queue = await declareQueue('cli-consume');
    for (const body of ['a', 'b', 'c']) await warren(['publish', queue, body, '--url', url]);
    const r = await warren(['consume', queue, '--count', '2', '--url', url]);
    expect(r.code).toBe(0);
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).body),
    ).toEqual(['a', 'b']);
    expect(await messageCount(queue)).toBe(1);
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`consume stops cleanly on ${signal}: exit 0, every printed message acked`, async () => {
      const queue = await declareQueue(`cli-${signal}`);
      expect((await warren(['publish', queue, 'm', '--count', '5', '--url', url])).code).toBe(0);
      const child = spawnWarren(['consume', queue, '--url', url]);
      let out = '';
      let err = '';
      child.stdout.on('data', (c) => {
        out += c;
      });
      child.stderr.on('data', (c) => {
        err += c;
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      await waitFor(() => out.split('\n').filter(Boolean).length === 5, 'five messages printed');
      child.kill(signal);
      expect(await exited).toBe(0);
      expect(err).toContain('stopped after 5 message(s)');
      expect(await messageCount(queue)).toBe(0);
    });
  }

  it('rpc prints the reply of a server', async () => {
    const queue = uniqueName('cli-rpc');
    queues.push(queue);
    const { AsyncRabbitMQ } = await import('../../../src/index.js');
    const server = new AsyncRabbitMQ({ queues: [{ name: queue }] }, { urls: url });
    await server.connect();
    try {
      await server.rpcServer<{ n: number }, { doubled: number }>(queue, async (req) => ({ doubled: req.n * 2 }));
      const r = await warren(['rpc', queue, '{"n":21}', '--json', '--url', url]);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ doubled: 42 });
    } finally {
      await server.disconnect();
    }
  });

  it('delete queue|exchange with --if-empty / --if-unused', async () => {
    const queue = await declareQueue('cli-delete');
    await warren(['publish', queue, 'x', '--url', url]);
    const refused = await warren(['delete', 'queue', queue, '--if-empty', '--url', url]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/406|PRECONDITION_FAILED/);
    expect((await warren(['delete', 'queue', queue, '--url', url])).stdout).toBe(
      `deleted queue "${queue}" (1 message(s) dropped)\n`,
    );
    await expect(messageCount(queue)).rejects.toMatchObject({ replyCode: 404 });

    const exchange = uniqueName('cli-x');
    exchanges.push(exchange);
    const bound = uniqueName('cli-bound');
    queues.push(bound);
    const config = file(
      'x.json',
      JSON.stringify({ exchanges: [{ name: exchange, type: 'direct' }], queues: [{ name: bound, exchange }] }),
    );
    await warren(['declare', config, '--url', url]);
    expect((await warren(['delete', 'exchange', exchange, '--if-unused', '--url', url])).code).toBe(1);
    expect((await warren(['delete', 'exchange', exchange, '--url', url])).stdout).toBe(
      `deleted exchange "${exchange}"\n`,
    );
    expect((await warren(['delete', 'exchange', exchange, '--if-empty'])).code).toBe(2);
    expect((await warren(['delete', 'table', 'x'])).code).toBe(2);
  });

  it('bench prints its table and removes its scratch queue', async () => {
    const r = await warren(['bench', '--count', '3000', '--size', '64', '--consumers', '2', '--url', url]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[1]).toMatch(/^phase +messages +msg\/s +MB\/s +CPU µs\/msg +p50 confirm +p99 confirm$/);
    expect(lines[3]).toMatch(/^publish\+confirm +3,000 +[\d,]+ +[\d.]+ +[\d.]+ +[\d.]+ ms +[\d.]+ ms$/);
    expect(lines[4]).toMatch(/^consume\+ack +3,000 +[\d,]+ +[\d.]+ +[\d.]+$/);
    const j = JSON.parse((await warren(['bench', '--count', '500', '--json', '--url', url])).stdout);
    expect(j.publish.messages).toBe(500);
    expect(j.consume.messages).toBe(500);
    expect(j.publish.p99ConfirmMs).toBeGreaterThanOrEqual(j.publish.p50ConfirmMs);
    expect(await rabbitmqctl('-q', 'list_queues', 'name')).not.toContain('warren.bench.');
  });
});
