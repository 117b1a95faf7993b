/**
 * Type tests, checked by `tsc --noEmit` (tsconfig includes `test/`): what must compile does, and every
 * `@ts-expect-error` line must fail to compile (tsc reports an unused one). Never run: the calls are
 * inside a function nobody calls.
 */
import { z } from 'zod';
import type { AsyncRabbitMQ } from '../../src/client/async-rabbitmq.js';
import { type ConsumeMessage, Outcome, type StandardSchemaV1 } from '../../src/client/consumer.js';
import type { MessageBody } from '../../src/client/message.js';
import { rpc } from '../../src/client/rpc.js';
import type { SyncRabbitMQ } from '../../src/sync/sync-rabbitmq.js';

interface Order {
  id: number;
  sku: string;
  lines: { sku: string; qty: number }[];
  note?: string;
}
type Quote = { amount: number; currency: 'EUR' | 'USD' };
class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
}

declare const mq: AsyncRabbitMQ;
declare const sync: SyncRabbitMQ;
declare const order: Order;
declare const orderSchema: StandardSchemaV1<unknown, Order>;
const QuoteSchema = z.object({ amount: z.number(), currency: z.enum(['EUR', 'USD']) });

export async function typeChecks(): Promise<void> {
  // Interfaces, type aliases, class instances, arrays and primitives are message bodies.
  await mq.publishMessage('orders', order);
  await mq.publishMessage<Order>('orders', { id: 1, sku: 'A', lines: [] });
  await mq.publishMessage('orders', [order, order]);
  await mq.publishMessage('points', new Point(1, 2));
  await mq.publishMessage('n', 42);
  await mq.publishMessage('b', true);
  await mq.publishMessage('z', null);
  await mq.publishMessage('s', 'text');
  await mq.publishMessage('bytes', Buffer.from('x'));
  await mq.publishMessage('bytes', new Uint8Array(2));
  sync.publishMessage('orders', order);
  const body: MessageBody = order;
  void body;

  // @ts-expect-error a function is not a message
  await mq.publishMessage('x', () => 1);
  // @ts-expect-error undefined is not a message
  await mq.publishMessage('x', undefined);
  // @ts-expect-error a symbol is not a message
  await mq.publishMessage('x', Symbol('s'));
  // @ts-expect-error a bigint has no JSON form
  await mq.publishMessage('x', 10n);
  // @ts-expect-error the explicit type is checked: sku is missing
  await mq.publishMessage<Order>('orders', { id: 1, lines: [] });

  // A schema on publish checks the message's type.
  await mq.publishMessage('orders', order, { schema: orderSchema });
  await mq.publishMessage('quotes', { amount: 1, currency: 'EUR' }, { schema: QuoteSchema });
  // @ts-expect-error the message does not fit the schema's type
  await mq.publishMessage('quotes', { amount: 1, currency: 'GBP' }, { schema: QuoteSchema });

  // rpc: the first type parameter is the reply (as before), the second the request; both accept interfaces.
  const n: number = await mq.rpc<number>('pricing', { sku: 'A1' });
  const q: Quote = await mq.rpc<Quote, Order>('pricing', order);
  const viaSchema: { amount: number; currency: 'EUR' | 'USD' } = await mq.rpc('pricing', order, {
    schema: QuoteSchema,
  });
  const standalone: Quote = await rpc<Quote, Order>(mq, 'pricing', order);
  await mq.rpc('pricing', 7);
  await mq.rpc('pricing', false);
  await mq.rpc('pricing', null);
  void [n, q, viaSchema, standalone];
  // @ts-expect-error the request does not fit the request type
  await mq.rpc<Quote, Order>('pricing', { id: 1 });
  // @ts-expect-error a function is not a request
  await mq.rpc('pricing', () => 1);
  // @ts-expect-error the reply schema's type is the result
  const wrong: string = await mq.rpc('pricing', order, { schema: QuoteSchema });
  void wrong;

  // Servers and consumers: the schema's output types msg.value / the request.
  await mq.rpcServer<Order, Quote>('pricing', (req) => ({ amount: req.lines.length, currency: 'EUR' }), {
    schema: orderSchema,
    responseSchema: QuoteSchema,
  });
  await mq.rpcServer<Order, Quote>(
    'pricing',
    // @ts-expect-error the handler's result must be the reply type
    () => ({ amount: 'x', currency: 'EUR' }),
  );
  await mq.consume<Order>(
    'orders',
    async (msg: ConsumeMessage<Order>) => {
      const sku: string = msg.value.sku;
      void sku;
      if (msg.attempt > 2) return msg.deadLetter('too many');
      if (msg.value.note === undefined) return Outcome.drop('no note');
      if (msg.value.id < 0) throw Outcome.retryLater(1000);
      msg.requeue();
    },
    { schema: orderSchema },
  );
  await mq.consume(
    'quotes',
    (msg) => {
      const amount: number = msg.value.amount;
      void amount;
    },
    { schema: QuoteSchema },
  );

  // The iterator yields typed messages.
  for await (const msg of mq.messages<Order>('orders', { json: true, prefetch: 5, signal: AbortSignal.timeout(1) })) {
    const lines: number = msg.value.lines.length;
    void lines;
    msg.ack();
  }
  const sub = await mq.subscribeBroadcast<Quote>('quotes', (msg) => void msg.value.currency, { json: true });
  const name: string = sub.queue;
  void name;
  // @ts-expect-error a retry policy is refused for broadcast subscriptions
  await mq.subscribeBroadcast('quotes', () => {}, { retry: { attempts: 2, delayMs: 1 } });
  const reaped = await mq.reapQueue('old');
  const why: 'missing' | 'in-use' | 'not-empty' | undefined = reaped.reason;
  void why;
}
