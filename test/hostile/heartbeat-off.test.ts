/**
 * `heartbeat: 0` means off, whatever the broker proposes: the client answers connection.tune with
 * heartbeat 0 in tune-ok (RabbitMQ then sends none either) and never writes a heartbeat frame. A fake broker,
 * because only it shows the exact tune-ok and every frame the client writes.
 */
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/connection/connect.js';
import { FRAME_HEARTBEAT } from '../../src/protocol/index.js';
import { sleep } from '../helpers/wait.js';
import { trackUnhandledRejections, useFakeBroker } from './support.js';

trackUnhandledRejections();

describe('heartbeat 0 turns heartbeats off', () => {
  const fx = useFakeBroker('close-ok');

  it('answers a broker proposing 1 s with tune-ok heartbeat 0, and sends no heartbeat frame', async () => {
    const connecting = connect(fx.broker.options({ heartbeat: 0 }));
    const peer = await fx.broker.accept();
    const { tuneOk } = await peer.handshake('open-ok', { heartbeat: 1 });
    const conn = await connecting;
    expect(tuneOk?.heartbeat).toBe(0);
    expect(conn.heartbeatSeconds).toBe(0);
    await sleep(1300); // with a 1 s heartbeat the client would have written two by now
    expect(peer.frames.filter((f) => f.type === FRAME_HEARTBEAT)).toHaveLength(0);
    await conn.close();
  });

  it('?heartbeat=0 in the URL does the same', async () => {
    const connecting = connect(`amqp://guest:guest@127.0.0.1:${fx.broker.port}/?heartbeat=0`);
    const peer = await fx.broker.accept();
    const { tuneOk } = await peer.handshake('open-ok', { heartbeat: 60 });
    const conn = await connecting;
    expect(tuneOk?.heartbeat).toBe(0);
    expect(conn.heartbeatSeconds).toBe(0);
    await conn.close();
  });

  it('a non-zero client value still takes the lower of the two, and the broker 0 leaves the client value', async () => {
    const connecting = connect(fx.broker.options({ heartbeat: 30 }));
    const peer = await fx.broker.accept();
    const { tuneOk } = await peer.handshake('open-ok', { heartbeat: 10 });
    const conn = await connecting;
    expect(tuneOk?.heartbeat).toBe(10);
    await conn.close();

    const second = connect(fx.broker.options({ heartbeat: 30 }));
    const peer2 = await fx.broker.accept();
    const r2 = await peer2.handshake('open-ok', { heartbeat: 0 });
    const conn2 = await second;
    expect(r2.tuneOk?.heartbeat).toBe(30);
    await conn2.close();
  });
});
