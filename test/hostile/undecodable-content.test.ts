/**
 * A delivery whose content header warren cannot decode fails alone: the consumer gets it with its raw body,
 * `properties: {}` and `decodeError`, and the connection stays open. (Closing the connection would only
 * have the broker deliver it again after the reconnect, forever.) A negative 64-bit timestamp is not such a
 * header: it decodes.
 */
import { describe, expect, it } from 'vitest';
import type { Delivery } from '../../src/connection/channel.js';
import { DecodeError, FRAME_HEADER } from '../../src/protocol/index.js';
import { waitFor } from '../helpers/wait.js';
import { bodyFrame, methodFrame, rawFrame } from './fake-broker.js';
import { closeCleanly, openChannel, openConnection, trackUnhandledRejections, useFakeBroker } from './support.js';

trackUnhandledRejections();

/** A content header frame on channel 1 for a 5-byte body, with these property bytes (flags first). */
function header(properties: string): Buffer {
  return rawFrame(FRAME_HEADER, 1, Buffer.from(`003c00000000000000000005${properties}`, 'hex'));
}

describe('a delivery with a content header warren cannot decode', () => {
  const fx = useFakeBroker('close-ok');

  it('reaches the consumer with decodeError and properties {}; the connection stays open and the next delivery is normal', async () => {
    const { conn, peer } = await openConnection(fx.broker);
    let connectionClosed = false;
    conn.on('close', () => {
      connectionClosed = true;
    });
    const ch = await openChannel(conn, peer);
    const received: Delivery[] = [];
    const consuming = ch.basicConsume({ queue: 'q', consumerTag: 'ctag' }, (d) => received.push(d));
    await peer.expectMethod('basic.consume', { channel: ch.id });
    peer.send(ch.id, 'basic.consume-ok', { consumerTag: 'ctag' });
    await consuming;

    const deliver = (tag: number) =>
      methodFrame(1, 'basic.deliver', { consumerTag: 'ctag', deliveryTag: tag, exchange: 'ex', routingKey: 'rk' });
    peer.writeRaw(
      Buffer.concat([
        // headers = { k: <value of unknown type 'Z'> }
        deliver(1),
        header('2000 00000004 016b5a00'.replace(/ /g, '')),
        bodyFrame(1, Buffer.from('hello')),
        // timestamp = -1 s (a negative int64), headers = { t: T -2 s }
        deliver(2),
        header('2040 0000000b 017454fffffffffffffffe ffffffffffffffff'.replace(/ /g, '')),
        bodyFrame(1, Buffer.from('world')),
      ]),
    );
    await waitFor(() => received.length === 2, 'two deliveries', 2000);

    const [bad, good] = received as [Delivery, Delivery];
    expect(bad.deliveryTag).toBe(1);
    expect(bad.body.toString()).toBe('hello');
    expect(bad.properties).toEqual({});
    expect(bad.decodeError).toBeInstanceOf(DecodeError);
    expect(bad.decodeError?.code).toBe('ERR_DECODE_PROPERTIES');
    expect(bad.decodeError?.message).toMatch(/unknown value type tag 0x5a/);

    expect(good.decodeError).toBeUndefined();
    expect(good.body.toString()).toBe('world');
    expect(good.properties.timestamp?.getTime()).toBe(-1000);
    expect(good.properties.headers).toEqual({ t: new Date(-2000) });

    // Nothing closed: no connection.close was sent, and the bad delivery can be dead-lettered.
    expect(ch.basicNack(1, { requeue: false })).toBe(true);
    expect(ch.basicAck(2)).toBe(true);
    await peer.expectMethod('basic.nack', { channel: 1 });
    expect(peer.methods('connection.close')).toEqual([]);
    expect(connectionClosed).toBe(false);
    expect(conn.isOpen && ch.isOpen).toBe(true);
    await closeCleanly(conn, peer);
  });
});
