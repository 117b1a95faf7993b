/**
 * Publish/subscribe: a fanout exchange broadcasts every message to every subscriber; a topic exchange
 * delivers only what each subscriber's pattern matches. Subscriber queues are exclusive: they live as
 * long as this connection.
 *
 *   npx tsx examples/pub-sub.ts
 */
import { randomBytes } from 'node:crypto';
import { AsyncRabbitMQ, ExchangeType } from 'warren';

const id = randomBytes(3).toString('hex');
const broadcast = `example.broadcast.${id}`;
const logs = `example.logs.${id}`;
const sub = (name: string, exchange: string, routingKey: string) => ({
  name: `example.${name}.${id}`,
  exclusive: true,
  durable: false,
  exchange,
  routingKey,
});
const mq = new AsyncRabbitMQ({
  exchanges: [
    { name: broadcast, type: ExchangeType.FANOUT },
    { name: logs, type: ExchangeType.TOPIC },
  ],
  queues: [
    sub('screen-1', broadcast, ''),
    sub('screen-2', broadcast, ''),
    sub('errors', logs, '*.error'),
    sub('billing', logs, 'billing.*'),
  ],
});
await mq.connect();

const got = new Map<string, string[]>();
const consumers = await Promise.all(
  mq.config.queues.map((q) =>
    mq.consume(
      q.name,
      (msg) => {
        const name = q.name.split('.')[1]!;
        got.set(name, [...(got.get(name) ?? []), msg.body.toString()]);
      },
      { deadLetter: false }, // nothing here fails; without it each queue would get a `<queue>.dead` companion
    ),
  ),
);

await mq.publishMessage('', 'maintenance at 22:00', { exchange: broadcast });
await mq.publishMessage('billing.error', 'card declined', { exchange: logs });
await mq.publishMessage('billing.info', 'invoice sent', { exchange: logs });
await mq.publishMessage('shipping.error', 'label printer jammed', { exchange: logs });

const deadline = Date.now() + 5000;
while ([...got.values()].flat().length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
for (const name of ['screen-1', 'screen-2', 'errors', 'billing'])
  console.log(`${name}: ${(got.get(name) ?? []).join(' | ')}`);

for (const c of consumers) await c.stop();
const ch = await mq.getChannel();
await ch.exchangeDelete({ exchange: broadcast });
await ch.exchangeDelete({ exchange: logs });
await mq.disconnect(); // the exclusive queues go with the connection
