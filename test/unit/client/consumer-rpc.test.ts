/** rpc() / rpcServer() without a broker: payload encoding and decoding, option checks. */
import { describe, expect, it } from 'vitest';
import { ConsumerOptionsError } from '../../../src/client/consumer.js';
import { decodeBody, encodePayload, type RpcHost, rpc, rpcPending, rpcServer } from '../../../src/client/rpc.js';
import { silentLogger } from '../../../src/client/settings.js';

/** A client that is not connected: enough for the checks that run before anything is sent. */
function idleHost(): RpcHost {
  return {
    session: {
      state: 'idle',
      current: undefined,
      logger: silentLogger,
      join: async () => {},
      leave: () => {},
      ready: () => Promise.reject(new Error('not connected')),
      report: () => {},
    },
  } as unknown as RpcHost;
}

describe('rpc payloads', () => {
  it('encodes bytes as they are, strings as text/plain, anything else as JSON', () => {
    const bytes = Buffer.from([1, 2]);
    expect(encodePayload(bytes)).toEqual({ body: bytes, contentType: undefined });
    expect(encodePayload(new Uint8Array([3]))).toEqual({ body: Buffer.from([3]), contentType: undefined });
    expect(encodePayload('hi')).toEqual({ body: Buffer.from('hi'), contentType: 'text/plain' });
    expect(encodePayload({ a: 1 })).toEqual({ body: Buffer.from('{"a":1}'), contentType: 'application/json' });
    expect(encodePayload(null)).toEqual({ body: Buffer.from('null'), contentType: 'application/json' });
    expect(encodePayload(7)).toEqual({ body: Buffer.from('7'), contentType: 'application/json' });
    expect(() => encodePayload(undefined as never)).toThrow(ConsumerOptionsError);
  });

  it('decodes by content type: JSON (also +json and with parameters), text, otherwise bytes', () => {
    expect(decodeBody(Buffer.from('{"a":1}'), 'application/json')).toEqual({ a: 1 });
    expect(decodeBody(Buffer.from('[1]'), 'application/vnd.api+json; charset=utf-8')).toEqual([1]);
    expect(decodeBody(Buffer.from('hey'), 'text/plain; charset=utf-8')).toBe('hey');
    expect(decodeBody(Buffer.from('raw'), undefined)).toEqual(Buffer.from('raw'));
    expect(() => decodeBody(Buffer.from('{'), 'application/json')).toThrow(SyntaxError);
  });
});

describe('rpc option checks', () => {
  it('rejects invalid arguments before sending anything', async () => {
    const mq = idleHost();
    await expect(rpc(mq, 'q', 'x', { timeoutMs: 0 })).rejects.toThrow(ConsumerOptionsError);
    await expect(rpc(mq, 'q', 'x', { timeoutMs: Number.NaN })).rejects.toThrow(/timeoutMs/);
    await expect(rpc(mq, 42 as never, 'x')).rejects.toThrow(/routingKey/);
    await expect(rpc(mq, 'q', undefined as never)).rejects.toThrow(/payload/);
    expect(rpcPending(mq)).toBe(0);
  });

  it('rejects with ClientClosedError (not connected) without leaking a pending call', async () => {
    const mq = idleHost();
    await expect(rpc(mq, 'q', 'x', { timeoutMs: 1000 })).rejects.toMatchObject({ code: 'ERR_CLIENT_CLOSED' });
    expect(rpcPending(mq)).toBe(0);
  });

  it('rpcServer checks its handler and handlerTimeoutMs', async () => {
    const mq = idleHost();
    await expect(rpcServer(mq, 'q', 'nope' as never)).rejects.toThrow(ConsumerOptionsError);
    await expect(rpcServer(mq, 'q', () => 1, { handlerTimeoutMs: -1 })).rejects.toThrow(/handlerTimeoutMs/);
  });
});
