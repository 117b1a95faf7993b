/**
 * A hostile or broken server during the handshake: an impossible frame_max, garbage or a foreign protocol
 * header instead of connection.start, silence, and refused logins. Every case must end in a prompt, typed
 * rejection of connect(), with nothing left open.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/connection/connect.js';
import { ConnectionError, ProtocolError } from '../../src/protocol/errors.js';
import { expectProtocolFailure, rejection, settle, trackUnhandledRejections, useFakeBroker } from './support.js';

trackUnhandledRejections();

describe('connection.tune with frame_max below the protocol minimum', () => {
  const fx = useFakeBroker('close-ok');

  it('rejects with a 501 ConnectionError caused by a ProtocolError, and tells the server with connection.close(501)', async () => {
    const connecting = connect(fx.broker.options());
    const peer = await fx.broker.accept();
    const script = settle(peer.handshake('tune', { frameMax: 1024 }));
    const { error, elapsed } = await rejection(connecting, 3000, 'connect()');

    const e = expectProtocolFailure(error, 501, 'FRAME_ERROR');
    expect(e.message).toMatch(/frame_max/);
    expect(e.message).toMatch(/1024/);
    expect(e.message).toMatch(/8192/);
    expect(elapsed).toBeLessThan(1000);
    // The client refused instead of tuning: no tune-ok, no connection.open, one connection.close(501).
    expect(peer.methods('connection.tune-ok')).toEqual([]);
    expect(peer.methods('connection.open')).toEqual([]);
    const close = await peer.expectMethod('connection.close', { channel: 0 });
    expect(close.replyCode).toBe(501);
    expect(close.replyText).toMatch(/frame_max/);
    await peer.expectClientGone();
    expect(peer.methods('connection.close')).toHaveLength(1);
    expect((await script).ok).toBe(false); // the script waited in vain for tune-ok
  });

  it.each([4096, 8191])('refuses frame_max %i too: never below the 8192 RabbitMQ 4.x requires', async (frameMax) => {
    const connecting = connect(fx.broker.options());
    const peer = await fx.broker.accept();
    const script = settle(peer.handshake('tune', { frameMax }));
    const { error } = await rejection(connecting, 3000, 'connect()');
    const e = expectProtocolFailure(error, 501, 'FRAME_ERROR');
    expect(e.message).toContain(`frame_max ${frameMax}`);
    expect(e.message).toContain('8192');
    expect(peer.methods('connection.tune-ok')).toEqual([]);
    await peer.expectClientGone();
    await script;
  });

  it('accepts a broker frame_max of 8192 exactly', async () => {
    const connecting = connect(fx.broker.options());
    const peer = await fx.broker.accept();
    const { tuneOk } = await peer.handshake('open-ok', { frameMax: 8192 });
    expect(tuneOk?.frameMax).toBe(8192);
    const conn = await connecting;
    expect(conn.frameMax).toBe(8192);
    await conn.close();
  });

  // Regression (once failed): onStreamClose() reports ACCESS_REFUSED whenever the socket closes at the
  // 'tune' step without a socket error, even when the client itself is closing for a protocol violation.
  it('keeps the 501 reason when the server drops the socket in answer to the connection.close', async () => {
    const broker = await fx.restart('drop');
    const connecting = connect(broker.options());
    const peer = await broker.accept();
    const script = settle(peer.handshake('tune', { frameMax: 1024 }));
    const { error } = await rejection(connecting, 3000, 'connect()');

    expect(await peer.expectMethod('connection.close', { channel: 0 })).toMatchObject({ replyCode: 501 });
    expect((error as ConnectionError).code).not.toBe('ACCESS_REFUSED');
    expectProtocolFailure(error, 501, 'FRAME_ERROR');
    await script;
  });

  // Regression (once failed): the handshake timer fires finish() with ERR_CONNECTION_TIMEOUT
  // ("waiting for connection.tune"), replacing the protocol violation the client is already closing for.
  it('keeps the 501 reason when the server never answers the connection.close before the connection timeout', async () => {
    const broker = await fx.restart('ignore');
    const connecting = connect(broker.options({ connectionTimeout: 800 }));
    const peer = await broker.accept();
    const script = settle(peer.handshake('tune', { frameMax: 1024 }));
    const { error, elapsed } = await rejection(connecting, 3000, 'connect()');

    expect(await peer.expectMethod('connection.close', { channel: 0 })).toMatchObject({ replyCode: 501 });
    expect(elapsed).toBeLessThan(2000);
    expect((error as ConnectionError).code).not.toBe('ERR_CONNECTION_TIMEOUT');
    expectProtocolFailure(error, 501, 'FRAME_ERROR');
    await peer.expectClientGone();
    await script;
  });
});

describe('a server that does not speak AMQP 0-9-1', () => {
  const fx = useFakeBroker('close-ok');

  it('rejects an HTTP response instead of connection.start at once with a 501', async () => {
    const connecting = connect(fx.broker.options());
    const peer = await fx.broker.accept();
    expect(await peer.waitForProtocolHeader()).toEqual(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
    // What an HTTP server says to "AMQP\0\0\9\1", and then it hangs up.
    peer.writeRaw(Buffer.from('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
    peer.socket.end();
    const { error, elapsed } = await rejection(connecting, 3000, 'connect()');

    const e = expectProtocolFailure(error, 501, 'FRAME_ERROR');
    expect(e.message).toMatch(/frame type 72/); // 'H'
    expect(elapsed).toBeLessThan(1000);
    await peer.expectClientGone();
  });

  // Regression (once failed): after a framing error the decoder ignores all further input, yet the
  // connection waits CLOSE_TIMEOUT_MS (5 s) for a connection.close-ok it can no longer recognise.
  it('rejects promptly even when the garbage-sending server keeps the socket open', async () => {
    const connecting = connect(fx.broker.options({ connectionTimeout: 10_000 }));
    const peer = await fx.broker.accept();
    await peer.waitForProtocolHeader();
    peer.writeRaw(Buffer.from('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'));
    const { error, elapsed } = await rejection(connecting, 1500, 'connect()');

    expectProtocolFailure(error, 501, 'FRAME_ERROR');
    expect(elapsed).toBeLessThan(1000);
  });

  it.each([
    ['its own AMQP 0-9-1 header', Buffer.from('AMQP\x00\x00\x09\x01', 'latin1')],
    ['an AMQP 1.0 header', Buffer.from('AMQP\x00\x01\x00\x00', 'latin1')],
    ['an AMQP 0-8 header', Buffer.from('AMQP\x01\x01\x08\x00', 'latin1')],
  ])('rejects a server that answers with %s (version mismatch) with a clear message', async (_label, header) => {
    const connecting = connect(fx.broker.options());
    const peer = await fx.broker.accept();
    await peer.waitForProtocolHeader();
    // What RabbitMQ does with a header it does not accept: send the one it wants, then close.
    peer.writeRaw(header);
    peer.socket.end();
    const { error, elapsed } = await rejection(connecting, 3000, 'connect()');

    const e = expectProtocolFailure(error, 501, 'FRAME_ERROR');
    expect(e.message).toMatch(/protocol header/);
    expect(e.message).toMatch(/AMQP 0-9-1/);
    expect(elapsed).toBeLessThan(1000);
    await peer.expectClientGone();
  });

  it('rejects arbitrary bytes in place of connection.start with a typed ConnectionError, never a hang or a crash', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }), async (bytes) => {
        const connecting = connect(fx.broker.options({ connectionTimeout: 3000 }));
        const peer = await fx.broker.accept();
        await peer.waitForProtocolHeader();
        peer.writeRaw(bytes);
        peer.socket.end();
        const { error, elapsed } = await rejection(connecting, 2000, 'connect()');

        expect(error).toBeInstanceOf(ConnectionError);
        const e = error as ConnectionError;
        // Either the bytes were a protocol violation, or they ended mid-frame and the socket closed.
        if (e.code !== 'ERR_CONNECTION_LOST') {
          expect(e.cause).toBeInstanceOf(ProtocolError);
          expect([501, 502, 505, 540]).toContain(e.replyCode);
        }
        expect(elapsed).toBeLessThan(1500);
        await peer.expectClientGone();
      }),
      { numRuns: 30 },
    );
  });
});

describe('a server that goes silent during the handshake', () => {
  const fx = useFakeBroker('close-ok');

  it('rejects with ERR_CONNECTION_TIMEOUT after connectionTimeout when the server never answers', async () => {
    const t0 = Date.now();
    const connecting = connect(fx.broker.options({ connectionTimeout: 300 }));
    const peer = await fx.broker.accept();
    await peer.waitForProtocolHeader(); // accepted, read the header, and then nothing
    const { error } = await rejection(connecting, 3000, 'connect()');
    const elapsed = Date.now() - t0;

    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).code).toBe('ERR_CONNECTION_TIMEOUT');
    expect((error as ConnectionError).message).toMatch(/300 ms/);
    expect((error as ConnectionError).message).toMatch(/connection\.start/);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(2000);
    await peer.expectClientGone(1000);
  });

  it('rejects with ERR_CONNECTION_TIMEOUT naming the step when the server stops after connection.start', async () => {
    const t0 = Date.now();
    const connecting = connect(fx.broker.options({ connectionTimeout: 400 }));
    const peer = await fx.broker.accept();
    await peer.handshake('start');
    const { error } = await rejection(connecting, 3000, 'connect()');
    const elapsed = Date.now() - t0;

    expect((error as ConnectionError).code).toBe('ERR_CONNECTION_TIMEOUT');
    expect((error as ConnectionError).message).toMatch(/connection\.tune/);
    expect(elapsed).toBeGreaterThanOrEqual(390);
    expect(elapsed).toBeLessThan(2000);
    await peer.expectClientGone(1000);
  });
});

describe('a server that refuses the login', () => {
  const fx = useFakeBroker('close-ok');

  it('rejects with ACCESS_REFUSED (403, not recoverable) when start-ok is answered with connection.close(403)', async () => {
    const connecting = connect(fx.broker.options());
    const peer = await fx.broker.accept();
    await peer.handshake('start');
    peer.send(0, 'connection.close', {
      replyCode: 403,
      replyText: 'ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN',
      classId: 0,
      methodId: 0,
    });
    const { error, elapsed } = await rejection(connecting, 3000, 'connect()');

    expect(error).toBeInstanceOf(ConnectionError);
    const e = error as ConnectionError;
    expect({ replyCode: e.replyCode, code: e.code, recoverable: e.recoverable }).toEqual({
      replyCode: 403,
      code: 'ACCESS_REFUSED',
      recoverable: false,
    });
    expect(e.replyText).toMatch(/Login was refused/);
    expect(elapsed).toBeLessThan(1000);
    // The client acknowledged the close as the spec requires, and went no further.
    await peer.expectMethod('connection.close-ok', { channel: 0 });
    expect(peer.methods('connection.tune-ok')).toEqual([]);
    await peer.expectClientGone();
  });

  it('rejects with ACCESS_REFUSED when the server just drops the socket after start-ok', async () => {
    const connecting = connect(fx.broker.options());
    const peer = await fx.broker.accept();
    await peer.handshake('start');
    peer.destroy();
    const { error, elapsed } = await rejection(connecting, 3000, 'connect()');

    expect(error).toBeInstanceOf(ConnectionError);
    const e = error as ConnectionError;
    expect({ replyCode: e.replyCode, code: e.code, recoverable: e.recoverable }).toEqual({
      replyCode: 403,
      code: 'ACCESS_REFUSED',
      recoverable: false,
    });
    expect(elapsed).toBeLessThan(1000);
  });

  it('does not call it ACCESS_REFUSED when the socket drops before connection.start', async () => {
    const connecting = connect(fx.broker.options());
    const peer = await fx.broker.accept();
    await peer.waitForProtocolHeader();
    peer.destroy();
    const { error } = await rejection(connecting, 3000, 'connect()');

    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).code).toBe('ERR_CONNECTION_LOST');
    expect((error as ConnectionError).message).toMatch(/connection\.start/);
  });
});
