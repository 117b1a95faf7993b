/**
 * disconnect() while the broker has stopped reading: a memory alarm blocks the publishing connection after
 * megabytes were written, so the close handshake can never complete. disconnect() must still end by its
 * deadline, reject every publish it could not get confirmed, and leave no socket, timer or connection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AsyncRabbitMQ } from '../../src/client/async-rabbitmq.js';
import { uniqueName } from '../helpers/broker.js';
import { chaosUrl, ctl, deleteQueue, restoreBroker } from '../helpers/chaos.js';
import { expectNoOpenHandles, handleSnapshot } from '../helpers/handles.js';
import { waitFor } from '../helpers/wait.js';

const DEADLINE_MS = 2000;

/** Connections the broker lists with this client-provided name. */
async function brokerConnections(name: string): Promise<number> {
  const out = await ctl('-q', 'list_connections', 'client_properties');
  return out.split('\n').filter((line) => line.includes(name)).length;
}

describe('chaos: disconnect() while the broker does not read', () => {
  beforeAll(async () => {
    await restoreBroker();
  });
  afterAll(async () => {
    await restoreBroker();
  });

  it('a memory alarm after megabytes were written: disconnect() ends by its deadline, every publish settles, nothing is left', async () => {
    const queue = uniqueName('chaos.shutdown');
    const name = uniqueName('warren-shutdown');
    const baseline = handleSnapshot();
    const mq = new AsyncRabbitMQ(
      { queues: [{ name: queue, durable: true }] },
      { urls: chaosUrl, connectionName: name, disconnectTimeoutMs: DEADLINE_MS, heartbeat: 0 },
    );
    mq.on('error', () => {});
    let blocked = 0;
    mq.on('blocked', () => blocked++);
    let settled = 0;
    let rejected = 0;
    try {
      await mq.connect();
      await ctl('set_vm_memory_high_watermark', '0.000001');
      // 64 × 512 KiB: more than the socket buffers hold, so the rest waits in the client while the broker
      // reads nothing (a blocked connection is not read from once it publishes).
      const body = Buffer.alloc(512 * 1024, 0x61);
      const publishes = Array.from({ length: 64 }, () =>
        mq.publishMessage(queue, body).then(
          () => void settled++,
          () => {
            settled++;
            rejected++;
          },
        ),
      );
      await waitFor(() => blocked > 0, "'blocked'", 10_000);
      await new Promise((r) => setTimeout(r, 500));
      const t0 = Date.now();
      await mq.disconnect();
      const took = Date.now() - t0;
      // The deadline is the contract; a second of slack covers the event loop on a loaded machine.
      expect(took, `disconnect() took ${took} ms with a ${DEADLINE_MS} ms deadline`).toBeLessThan(DEADLINE_MS + 1000);
      await Promise.all(publishes);
      expect(settled).toBe(64);
      // Nothing could be confirmed while the alarm held: every publish rejects, none resolves or hangs.
      expect(rejected).toBe(64);
      expect(mq.pendingPublishes).toBe(0);
      await expectNoOpenHandles(baseline, 2000);
    } finally {
      await restoreBroker();
      await mq.disconnect().catch(() => {});
    }
    // The broker sees the dropped socket once it reads again.
    await waitFor(async () => (await brokerConnections(name)) === 0, 'the broker to drop the connection', 15_000);
    await deleteQueue(chaosUrl, queue).catch(() => {});
  });
});
