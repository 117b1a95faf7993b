/**
 * Node failover in a real three-node cluster: confirmed publishing to a quorum queue survives a node
 * shutting down and, later, another node's Erlang VM being killed outright, each while the client is
 * connected to it (and the queue's leader is most likely there), with nothing lost.
 *
 * The cluster is made of throwaway nodes (scripts/cluster.sh: warren-c1..3@localhost on 5681..5683),
 * never the main broker, and is removed in afterAll whatever happens. Prints one JSON line:
 * {"fault","published","lost","duplicates","ms"}.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AsyncRabbitMQ } from '../../src/client/async-rabbitmq.js';
import { uniqueName } from '../helpers/broker.js';
import { drainQueue, publishWindowed, tally } from '../helpers/chaos.js';

const run = promisify(execFile);
const CLUSTER = fileURLToPath(new URL('../../scripts/cluster.sh', import.meta.url));
const URLS = [1, 2, 3].map((n) => `amqp://guest:guest@127.0.0.1:568${n}/%2F`);
const TOTAL = 20_000;
const WINDOW = 500;

/** Which node (1..3) a redacted URL points at. */
function nodeOf(url: string): number {
  const port = Number(/:(\d+)\//.exec(url)?.[1]);
  return port - 5680;
}

async function cluster(...args: string[]): Promise<string> {
  const { stdout } = await run(CLUSTER, args, { timeout: 180_000 });
  return stdout;
}

describe('chaos: node failover in a three-node cluster', () => {
  beforeAll(async () => {
    await cluster('down'); // whatever a run that died left behind
    await cluster('up');
  }, 200_000);

  afterAll(async () => {
    await cluster('down');
  }, 120_000);

  it('a quorum queue loses nothing when the connected node stops, then when another one is killed', async () => {
    const queue = uniqueName('chaos.cluster');
    const mq = new AsyncRabbitMQ(
      { queues: [{ name: queue, durable: true, arguments: { 'x-queue-type': 'quorum' } }] },
      { urls: URLS, heartbeat: 5, connectionTimeout: 3000, reconnect: { baseDelayMs: 50, maxDelayMs: 500 } },
    );
    const connectedTo: string[] = [];
    mq.on('connected', ({ url }) => connectedTo.push(url));
    mq.on('error', () => {});
    const ids = Array.from({ length: TOTAL }, (_, i) => `c-${i}`);
    let killed = (): void => {};
    const kill = new Promise<void>((resolve) => {
      killed = resolve; // the executor runs at once: `killed` opens the gate from here on
    });
    try {
      await mq.connect();
      expect(connectedTo).toEqual([expect.stringContaining(':5681')]);
      // The last quarter (less one window) waits for the kill, so the crash always lands mid-stream even
      // when the publisher catches up in a burst after the first failover.
      const publishing = publishWindowed(mq, queue, ids, WINDOW, {
        maxPerSecond: 4000,
        gate: { at: (TOTAL * 3) / 4 + WINDOW, open: kill },
      });

      // A clean shutdown of the node the client is on: the broker says 320 CONNECTION_FORCED.
      await publishing.reached(TOTAL / 4);
      await cluster('ctl', '1', 'stop_app');
      // The client fails over to another node; node 1 comes back and rejoins while publishing goes on.
      await publishing.reached(TOTAL / 2);
      await cluster('ctl', '1', 'start_app');
      const survivor = nodeOf(connectedTo.at(-1)!);
      expect(survivor).not.toBe(1);

      // A crash of the node the client is on now: no goodbye, the socket just dies.
      await publishing.reached((TOTAL * 3) / 4);
      await cluster('kill', String(survivor));
      killed();

      const result = await publishing.done;
      expect(result.errors).toEqual([]);
      expect(result.resolved).toBe(TOTAL);
      const last = nodeOf(connectedTo.at(-1)!);
      expect(last).not.toBe(survivor);
      await mq.disconnect();

      const received = await drainQueue(URLS[last - 1]!, queue, 60_000);
      const { lost, duplicates, unexpected } = tally(ids, received);
      console.log(
        JSON.stringify({
          fault: `cluster: stop_app node 1, then kill -9 node ${survivor}`,
          published: TOTAL,
          lost: lost.length,
          duplicates,
          ms: result.ms,
          connectedTo,
        }),
      );
      expect(lost).toEqual([]);
      expect(unexpected).toBe(0);
    } finally {
      killed(); // a failed run must not leave the publishing loop parked at the gate
      await mq.disconnect().catch(() => {});
    }
  });
});
