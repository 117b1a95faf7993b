import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CliIO } from '../../../src/cli/commands.js';
import { main } from '../../../src/cli/main.js';
import { AsyncRabbitMQ } from '../../../src/client/async-rabbitmq.js';
import { connect } from '../../../src/connection/connect.js';
import { brokerUrl, uniqueName } from '../../helpers/broker.js';

interface Run {
  code: number;
  out: string[];
  err: string[];
}

async function run(argv: string[], stdin = '', interrupt?: Promise<void>): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    stdin: async () => Buffer.from(stdin),
    interrupted: interrupt ?? new Promise(() => {}),
  };
  const code = await main(argv, io);
  return { code, out, err };
}

const url = brokerUrl();
const cleanup: string[] = [];

afterAll(async () => {
  const conn = await connect(url);
  const ch = await conn.createChannel();
  for (const q of cleanup) await ch.queueDelete({ queue: q });
  await conn.close();
});

describe('warren CLI', () => {
  it('ping prints the server and the negotiated limits', async () => {
    const r = await run(['ping', '--url', url]);
    expect(r.code).toBe(0);
    expect(r.out.join('\n')).toMatch(/server: RabbitMQ \d+\.\d+/);
    expect(r.out.join('\n')).toMatch(/frame_max \d+, channel_max \d+, heartbeat \d+ s/);
    expect(r.out.join('\n')).not.toContain('guest:guest');
  });

  it('validate: exit 0 for a good config, 1 with the path and rule for a bad one, 2 for a usage mistake', async () => {
    const dir = tmpdir();
    const good = join(dir, `${uniqueName('cli-good')}.json`);
    const bad = join(dir, `${uniqueName('cli-bad')}.json`);
    writeFileSync(
      good,
      JSON.stringify({ exchanges: [{ name: 'e', type: 'topic' }], queues: [{ name: 'q', exchange: 'e' }] }),
    );
    writeFileSync(bad, JSON.stringify({ queues: [{ name: 'q', arguments: { 'x-max-length': 'ten' } }] }));
    expect(await run(['validate', good])).toMatchObject({
      code: 0,
      out: ['valid: 1 exchange(s), 1 queue(s), 0 binding(s) in vhost /'],
    });
    const r = await run(['validate', bad]);
    expect(r.code).toBe(1);
    expect(r.err.join('\n')).toContain('ERR_CONFIG_INVALID');
    expect(r.err.join('\n')).toContain('queues[0].arguments["x-max-length"] must be a non-negative integer');
    const usage = await run(['validate']);
    expect(usage.code).toBe(2);
    expect(usage.err.join('\n')).toContain('a config file is required');
    expect((await run(['frobnicate'])).code).toBe(2);
    expect((await run(['get', 'q', '--count', 'lots'])).err.join('\n')).toContain('--count must be a positive integer');
  });

  it('declare, publish (argument and stdin, headers, JSON) and get --ack round trip', async () => {
    const queue = uniqueName('cli');
    cleanup.push(queue);
    const config = join(tmpdir(), `${queue}.json`);
    writeFileSync(config, JSON.stringify({ queues: [{ name: queue }] }));
    expect((await run(['declare', config, '--url', url])).code).toBe(0);

    const p1 = await run(['publish', queue, 'hello', '--url', url, '--header', 'x-tenant=acme']);
    expect(p1.code).toBe(0);
    expect(p1.out[0]).toContain('confirmed');
    const p2 = await run(['publish', queue, '--json', '--url', url], '{"n": 2}');
    expect(p2.code).toBe(0);

    const peek = await run(['get', queue, '--count', '5', '--url', url]);
    expect(peek.out).toHaveLength(2);
    expect(peek.err.at(-1)).toBe('2 message(s) (left in the queue)');

    const got = await run(['get', queue, '--count', '5', '--ack', '--url', url]);
    const messages = got.out.map((l) => JSON.parse(l));
    expect(messages.map((m) => m.body)).toEqual(['hello', '{"n":2}']);
    expect(messages[0].properties.headers).toEqual({ 'x-tenant': 'acme' });
    expect(messages[0].properties.deliveryMode).toBe(2);
    expect(messages[1].properties.contentType).toBe('application/json');
    expect((await run(['get', queue, '--ack', '--url', url])).out).toHaveLength(0);
  });

  it('publish of an unroutable message fails with exit 1 and the error code; --no-mandatory succeeds', async () => {
    const nowhere = uniqueName('cli-nowhere');
    const r = await run(['publish', nowhere, 'x', '--url', url]);
    expect(r.code).toBe(1);
    expect(r.err.join('\n')).toContain('ERR_UNROUTABLE');
    expect((await run(['publish', nowhere, 'x', '--no-mandatory', '--url', url])).code).toBe(0);
  });

  it('consume prints messages until --count, and stops on interrupt', async () => {
    const queue = uniqueName('cli-consume');
    cleanup.push(queue);
    const config = join(tmpdir(), `${queue}.json`);
    writeFileSync(config, JSON.stringify({ queues: [{ name: queue }] }));
    await run(['declare', config, '--url', url]);
    for (const body of ['a', 'b', 'c']) await run(['publish', queue, body, '--url', url]);
    const r = await run(['consume', queue, '--count', '2', '--url', url]);
    expect(r.code).toBe(0);
    expect(r.out.slice(0, 2).map((l) => JSON.parse(l).body)).toEqual(['a', 'b']);

    let interrupt: () => void = () => {};
    const interrupted = new Promise<void>((resolve) => {
      interrupt = resolve;
    });
    const consuming = run(['consume', queue, '--url', url], '', interrupted);
    setTimeout(interrupt, 500);
    const stopped = await consuming;
    expect(stopped.code).toBe(0);
    expect(stopped.out.map((l) => JSON.parse(l).body)).toContain('c');
  });

  it('rpc prints the reply of a server', async () => {
    const queue = uniqueName('cli-rpc');
    cleanup.push(queue);
    const server = new AsyncRabbitMQ({ queues: [{ name: queue }] }, { urls: url });
    await server.connect();
    try {
      await server.rpcServer<{ n: number }, { doubled: number }>(queue, async (req) => ({ doubled: req.n * 2 }));
      const r = await run(['rpc', queue, '{"n":21}', '--json', '--url', url]);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out[0]!)).toEqual({ doubled: 42 });
    } finally {
      await server.disconnect();
    }
  });
});
