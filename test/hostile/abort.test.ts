import { describe, expect, it } from 'vitest';
import { connect } from '../../src/connection/connect.js';
import { WarrenError } from '../../src/protocol/errors.js';
import { rejection, trackUnhandledRejections, useFakeBroker } from './support.js';

trackUnhandledRejections();

describe('connect() with an AbortSignal', () => {
  const fx = useFakeBroker('close-ok');

  it('aborting during a handshake the server never answers rejects at once with ERR_ABORTED', async () => {
    const controller = new AbortController();
    const connecting = connect(fx.broker.options({ connectionTimeout: 10_000, signal: controller.signal }));
    const peer = await fx.broker.accept();
    await peer.waitForProtocolHeader();
    const t0 = Date.now();
    controller.abort(new Error('shutting down'));
    const { error } = await rejection(connecting, 2000, 'connect()');
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(error).toBeInstanceOf(WarrenError);
    expect((error as WarrenError).code).toBe('ERR_ABORTED');
    expect(((error as WarrenError).cause as Error).message).toBe('shutting down');
    await peer.expectClientGone();
  });

  it('an already aborted signal rejects without completing a connection', async () => {
    const controller = new AbortController();
    controller.abort();
    const { error } = await rejection(connect(fx.broker.options({ signal: controller.signal })), 2000, 'connect()');
    expect((error as WarrenError).code).toBe('ERR_ABORTED');
  });

  it('aborting after the connection opened changes nothing', async () => {
    const controller = new AbortController();
    const connecting = connect(fx.broker.options({ signal: controller.signal }));
    const peer = await fx.broker.accept();
    await peer.handshake('open-ok');
    const conn = await connecting;
    controller.abort();
    await new Promise((r) => setTimeout(r, 50));
    expect(conn.isOpen).toBe(true);
    await conn.close();
  });
});
