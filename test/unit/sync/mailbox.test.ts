import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { Decimal } from '../../../src/protocol/field-table.js';
import {
  Area,
  CallerMailbox,
  type DecodedRequest,
  HEADER_SLOTS,
  HOT_WAIT_MS,
  WORKER_HOT,
  WorkerMailbox,
} from '../../../src/sync/mailbox.js';
import { toThread } from '../../../src/sync/messages.js';
import { waitFor } from '../../helpers/wait.js';

const ports: MessageChannel[] = [];
afterEach(() => {
  for (const c of ports.splice(0)) {
    c.port1.close();
    c.port2.close();
  }
});

/** Both ends in one thread (Atomics.waitAsync is woken by a notify from the same thread too). */
function pair(options: { start?: boolean } = {}) {
  const header = new Int32Array(new SharedArrayBuffer(HEADER_SLOTS * 4));
  const requests = new MessageChannel();
  const replies = new MessageChannel();
  ports.push(requests, replies);
  const replyArea = Area.create();
  const caller = new CallerMailbox(header, requests.port1, replies.port1, replyArea);
  const got: DecodedRequest[] = [];
  const worker = new WorkerMailbox(
    header,
    caller.initialRequestArea,
    replyArea.sab,
    requests.port2,
    replies.port2,
    (r) => got.push(r),
  );
  if (options.start !== false) worker.start();
  return { caller, worker, got, header };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('sync mailbox', () => {
  it('carries publishes (binary) and other calls (structured) with their exact values; bytes are copied', async () => {
    const { caller, got } = pair();
    const body = Buffer.from([0, 1, 2, 255]);
    expect(caller.send(1, 'publishMessage', ['q', body, {}], 1000)).toBe(true);
    await waitFor(() => got.length === 1, 'the mailbox');
    expect(caller.send(2, 'publishMessage', ['q', { a: 1 }, { exchange: 'x', priority: 3 }], 1000)).toBe(true);
    await waitFor(() => got.length === 2, 'the mailbox');
    const headers = { price: new Decimal(2, 199), big: 2n ** 40n };
    expect(caller.send(3, 'publishMessage', ['q', 'text', { headers }], 1000)).toBe(true);
    await waitFor(() => got.length === 3, 'the mailbox');
    expect(caller.send(4, 'channel', [1, 'basicAck', 7, undefined], 1000)).toBe(true);
    await waitFor(() => got.length === 4, 'the mailbox');

    expect(got[0]!.op).toBe('publishMessage');
    const sent = got[0]!.args[1] as Buffer;
    expect(sent.equals(body)).toBe(true);
    expect(sent.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    expect(got[0]!.args[2]).toBeUndefined();
    // An object body arrives as the JSON bytes buildMessage would make, with its content type.
    expect((got[1]!.args[1] as Buffer).toString()).toBe('{"a":1}');
    expect(got[1]!.args[2]).toEqual({ exchange: 'x', priority: 3, contentType: 'application/json' });
    expect(got[2]!.args[1]).toBe('text');
    const h = (got[2]!.args[2] as { headers: Record<string, unknown> }).headers;
    expect(h.price).toBeInstanceOf(Decimal);
    expect(h.big).toBe(2n ** 40n);
    expect(got[3]).toEqual({ id: 4, op: 'channel', args: [1, 'basicAck', 7, undefined] });
  });

  it('grows both areas for a request and a reply larger than they are', async () => {
    const { caller, worker, got } = pair();
    const big = Buffer.alloc(300 * 1024, 7);
    big[big.length - 1] = 9;
    expect(
      caller.send(
        1,
        'publishMany',
        [
          [
            { routingKey: 'q', message: big },
            { routingKey: 'q', message: big },
          ],
        ],
        1000,
      ),
    ).toBe(true);
    await waitFor(() => got.length === 1, 'the mailbox');
    const messages = got[0]!.args[0] as { message: Buffer }[];
    expect(messages.map((m) => m.message.equals(big))).toEqual([true, true]);

    worker.answer(1, toThread({ body: Buffer.alloc(500 * 1024, 3) }));
    expect(caller.hasReply).toBe(true);
    const reply = caller.takeReply();
    expect(reply.id).toBe(1);
    const value = (reply as { value: { body: Buffer } }).value;
    expect(value.body.byteLength).toBe(500 * 1024);
    expect(value.body.every((b) => b === 3)).toBe(true);
    expect(value.body.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    expect(caller.hasReply).toBe(false);
  });

  it('queues replies while the caller has not taken the last one, in order', async () => {
    const { caller, worker } = pair();
    worker.answer(1, 'one');
    worker.fail(2, { name: 'Error', message: 'two' });
    worker.answer(3, undefined);
    expect(caller.takeReply()).toEqual({ id: 1, ok: true, value: 'one' });
    await waitFor(() => caller.hasReply, 'the mailbox');
    expect(caller.takeReply()).toEqual({ id: 2, ok: false, error: { name: 'Error', message: 'two' } });
    await waitFor(() => caller.hasReply, 'the mailbox');
    expect(caller.takeReply()).toEqual({ id: 3, ok: true, value: undefined });
  });

  it('takes a request written before the worker end started', async () => {
    const { caller, worker, got } = pair({ start: false });
    expect(caller.send(1, 'status', [], 1000)).toBe(true);
    worker.start();
    await waitFor(() => got.length === 1, 'the first request');
    expect(got[0]).toEqual({ id: 1, op: 'status', args: [] });
  });

  it('after its last answer the worker is hot (the next request needs no bell), then cold again', async () => {
    const { caller, worker, got, header } = pair();
    expect(caller.send(1, 'status', [], 1000)).toBe(true);
    await waitFor(() => got.length === 1, 'request 1');
    expect(Atomics.load(header, WORKER_HOT)).toBe(0);
    worker.answer(1, 'one');
    // Hot from the answer on, so the caller, woken by it, finds the worker ready for its next request.
    expect(Atomics.load(header, WORKER_HOT)).toBe(1);
    expect(caller.takeReply()).toEqual({ id: 1, ok: true, value: 'one' });
    expect(caller.send(2, 'status', [], 1000)).toBe(true);
    // Taken by the hot wait (one turn of the loop), not by a bell.
    await new Promise((resolve) => setImmediate(resolve));
    expect(got.map((r) => r.id)).toEqual([1, 2]);
    expect(Atomics.load(header, WORKER_HOT)).toBe(0);

    worker.answer(2, 'two');
    caller.takeReply();
    // Nothing comes: after HOT_WAIT_MS the worker is back in its event loop, where the bell reaches it.
    await sleep(HOT_WAIT_MS * 3);
    expect(Atomics.load(header, WORKER_HOT)).toBe(0);
    expect(caller.send(3, 'status', [], 1000)).toBe(true);
    await waitFor(() => got.length === 3, 'request 3 (through the bell)');
    expect(got[2]!.id).toBe(3);
  });

  it('stays in its event loop while a call is unanswered (a later request, after a timeout, is still taken)', async () => {
    const { caller, worker, got, header } = pair();
    expect(caller.send(1, 'next', [], 1000)).toBe(true);
    await waitFor(() => got.length === 1, 'request 1');
    // The caller gave up on 1 and calls again: the worker, still owing 1, must take 2 from its loop.
    expect(caller.send(2, 'status', [], 1000)).toBe(true);
    await waitFor(() => got.length === 2, 'request 2');
    worker.answer(2, 'two');
    expect(Atomics.load(header, WORKER_HOT)).toBe(0); // 1 is still owed: not hot
    worker.answer(1, 'one');
    expect(Atomics.load(header, WORKER_HOT)).toBe(1);
    expect(caller.takeReply()).toEqual({ id: 2, ok: true, value: 'two' });
  });
});
