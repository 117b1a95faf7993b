/**
 * RPC over direct reply-to: a server answers requests from a queue; the caller awaits the reply, with a
 * timeout. A handler that throws is answered with an error, which rejects the caller's promise.
 *
 *   npx tsx examples/rpc.ts
 */
import { randomBytes } from 'node:crypto';
import { AsyncRabbitMQ, RpcRemoteError } from 'warren';

const queue = `example.pricing.${randomBytes(3).toString('hex')}`;
const server = new AsyncRabbitMQ({ queues: [{ name: queue }] }, { connectionName: 'pricing server' });
const caller = new AsyncRabbitMQ({}, { connectionName: 'checkout' });
await Promise.all([server.connect(), caller.connect()]);

const prices: Record<string, number> = { A1: 999, B2: 1450 };
const pricing = await server.rpcServer<{ sku: string }, { sku: string; cents: number }>(queue, async ({ sku }) => {
  const cents = prices[sku];
  if (cents === undefined) throw new Error(`unknown sku ${sku}`);
  return { sku, cents };
});

for (const sku of ['A1', 'B2']) {
  const reply = await caller.rpc<{ cents: number }>(queue, { sku }, { timeoutMs: 5000 });
  console.log(`${sku}: ${reply.cents} cents`);
}
try {
  await caller.rpc(queue, { sku: 'ZZ' }, { timeoutMs: 5000 });
} catch (err) {
  if (!(err instanceof RpcRemoteError)) throw err;
  console.log(`ZZ: the server answered with an error: ${err.message}`);
}

await pricing.stop();
await (await server.getChannel()).queueDelete({ queue });
await Promise.all([caller.disconnect(), server.disconnect()]);
