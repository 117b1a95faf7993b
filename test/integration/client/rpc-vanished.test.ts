/**
 * Replies to callers that are gone, on both brokers: a caller that timed out, and one whose connection
 * closed (its `amq.rabbitmq.reply-to.*` address no longer exists; RabbitMQ 4.2 stopped returning such
 * replies even when mandatory). The server publishes replies non-mandatory: each reply settles (the
 * request is acked), nothing is reported as an error, and the server keeps serving.
 */
import { describe, expect, it } from 'vitest';
import { RpcTimeoutError } from '../../../src/client/consumer.js';
import { rpc, rpcServer } from '../../../src/client/rpc.js';
import { sleep, waitFor } from '../../helpers/wait.js';
import { consumeFixture } from './consume-fixture.js';

const { client, queueName, queueInfo } = consumeFixture();

async function slowServer(label: string) {
  const q = queueName(label);
  const serverClient = await client({ queues: [{ name: q }] });
  const serverErrors: unknown[] = [];
  serverClient.on('error', (e) => serverErrors.push(e));
  let answered = 0;
  const server = await rpcServer(
    serverClient,
    q,
    async (req: string) => {
      if (req.startsWith('slow')) await sleep(500);
      answered++;
      return `re:${req}`;
    },
    { prefetch: 5 },
  );
  return { q, server, serverErrors, answered: () => answered };
}

describe('rpc: replies to callers that are gone', () => {
  it('a caller that timed out: the late reply settles without error, the caller timed out, the server keeps serving', async () => {
    const { q, server, serverErrors, answered } = await slowServer('rpc.gone.timeout');
    const caller = await client();
    const late = await rpc(caller, q, 'slow-1', { timeoutMs: 150 }).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(RpcTimeoutError);
    await waitFor(() => answered() === 1 && server.inFlight === 0, 'the late reply to settle');
    expect(await rpc(caller, q, 'fast', { timeoutMs: 5000 })).toBe('re:fast');
    await sleep(50);
    expect(serverErrors).toEqual([]);
    expect(server.state).toBe('active');
    expect(await queueInfo(q)).toMatchObject({ messageCount: 0 });
    await server.stop();
  });

  it('a caller whose connection closed: the reply to its vanished reply-to address settles, the server keeps serving', async () => {
    const { q, server, serverErrors, answered } = await slowServer('rpc.gone.vanished');
    const gone = await client();
    const call = rpc(gone, q, 'slow-2', { timeoutMs: 5000 }).catch((e: unknown) => e);
    await waitFor(() => server.inFlight === 1, 'the request at the server');
    await gone.disconnect({ timeoutMs: 100 }); // before the reply: its reply-to address goes with it
    expect(await call).toBeInstanceOf(Error);
    await waitFor(() => answered() === 1 && server.inFlight === 0, 'the reply to settle');
    const other = await client();
    const replies = await Promise.all([1, 2, 3].map((i) => rpc(other, q, `fast-${i}`, { timeoutMs: 5000 })));
    expect(replies).toEqual(['re:fast-1', 're:fast-2', 're:fast-3']);
    await sleep(50);
    expect(serverErrors).toEqual([]);
    expect(server.state).toBe('active');
    await server.stop();
  });
});
