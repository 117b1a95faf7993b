import { describe, expect, it } from 'vitest';
import type { Channel } from '../../../src/connection/channel.js';
import { ChannelError, ConnectionError } from '../../../src/protocol/errors.js';
import { uniqueName } from '../../helpers/broker.js';
import { brokerUrlWith, engineSuite } from './engine-helpers.js';

const suite = engineSuite();

describe('many channels', () => {
  it('opens 500 channels on one connection at once, uses some, closes all', async () => {
    const conn = await suite.open();
    const channels = await Promise.all(Array.from({ length: 500 }, () => conn.createChannel()));
    expect(conn.channelCount).toBe(500);
    const ids = channels.map((c) => c.id);
    expect(new Set(ids).size).toBe(500);
    for (const id of ids) {
      expect(id).toBeGreaterThanOrEqual(1);
      expect(id).toBeLessThanOrEqual(conn.channelMax);
    }
    expect(channels.every((c) => c.isOpen)).toBe(true);
    // Use a spread of them, concurrently: each answers on its own channel.
    const sample = [channels[0]!, channels[137]!, channels[250]!, channels[499]!];
    const declared = await Promise.all(sample.map((c) => c.queueDeclare({ queue: '', exclusive: true })));
    expect(new Set(declared.map((d) => d.queue)).size).toBe(sample.length);
    await Promise.all(
      sample.map(async (c, i) => {
        await c.confirmSelect();
        await c.basicPublish({ routingKey: declared[i]!.queue }, `from channel ${c.id}`);
      }),
    );
    // Cross-check: a message published on one channel is fetched from another.
    const got = await channels[42]!.basicGet({ queue: declared[3]!.queue, noAck: true });
    expect(got?.body.toString()).toBe(`from channel ${channels[499]!.id}`);
    await Promise.all(channels.map((c) => c.close()));
    expect(channels.every((c) => c.state === 'closed')).toBe(true);
    expect(conn.channelCount).toBe(0);
    expect(conn.isOpen).toBe(true);
    // The connection still opens channels afterwards.
    const again = await conn.createChannel();
    await expect(again.queueDeclare({ queue: '', exclusive: true })).resolves.toMatchObject({ consumerCount: 0 });
  });

  it('reuses channel ids after close and refuses more than channel_max open channels', async () => {
    const conn = await suite.open(brokerUrlWith('channel_max=16'));
    expect(conn.channelMax).toBe(16);
    const channels: Channel[] = [];
    for (let i = 0; i < 16; i++) channels.push(await conn.createChannel());
    expect(channels.map((c) => c.id).sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_v, i) => i + 1));
    // Channel 16 (= channel_max) is accepted by the broker.
    await expect(channels[15]!.queueDeclare({ queue: '', exclusive: true })).resolves.toBeDefined();

    const exhausted = await conn.createChannel().catch((e: unknown) => e);
    expect(exhausted).toBeInstanceOf(ConnectionError);
    expect((exhausted as ConnectionError).code).toBe('ERR_CHANNELS_EXHAUSTED');
    expect(conn.isOpen).toBe(true);

    const five = channels[4]!;
    expect(five.id).toBe(5);
    await five.close();
    const reused = await conn.createChannel();
    expect(reused.id).toBe(5);
    await expect(reused.queueDeclare({ queue: '', exclusive: true })).resolves.toBeDefined();
    // The old object for id 5 stays closed and does not see the new channel's traffic.
    expect(five.state).toBe('closed');
    await expect(five.queueDeclare({ queue: '', exclusive: true })).rejects.toBeInstanceOf(ChannelError);

    // A channel closed by the broker frees its id too.
    const seven = channels[6]!;
    await seven.queueDeclare({ queue: uniqueName('channels.missing'), passive: true }).catch(() => {});
    expect(seven.state).toBe('closed');
    const reused7 = await conn.createChannel();
    expect(reused7.id).toBe(7);
    await expect(reused7.queueDeclare({ queue: '', exclusive: true })).resolves.toBeDefined();

    // Close everything: all 16 ids are usable again.
    await Promise.all([...channels, reused, reused7].map((c) => c.close()));
    expect(conn.channelCount).toBe(0);
    const second = await Promise.all(Array.from({ length: 16 }, () => conn.createChannel()));
    expect(second.map((c) => c.id).sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_v, i) => i + 1));
    await Promise.all(second.map((c) => c.queueDeclare({ queue: '', exclusive: true })));
  });

  it('channels of one connection are independent: an error on one leaves the others working', async () => {
    const conn = await suite.open();
    const [a, b, c] = await Promise.all([conn.createChannel(), conn.createChannel(), conn.createChannel()]);
    const { queue } = await a!.queueDeclare({ queue: '', exclusive: true });
    const failing = b!.queueDeclare({ queue: uniqueName('channels.none'), passive: true });
    const working = c!.queueDeclare({ queue, passive: true });
    await expect(failing).rejects.toMatchObject({ replyCode: 404 });
    await expect(working).resolves.toMatchObject({ queue });
    expect([a!.isOpen, b!.isOpen, c!.isOpen]).toEqual([true, false, true]);
  });

  it('closing a channel waits for close-ok and is idempotent; concurrent closes share the wait', async () => {
    const conn = await suite.open();
    const ch = await conn.createChannel();
    const events: unknown[] = [];
    ch.on('close', (err) => events.push(err));
    const first = ch.close();
    expect(ch.state).toBe('closing');
    const second = ch.close();
    await Promise.all([first, second]);
    await ch.close();
    expect(ch.state).toBe('closed');
    expect(events).toEqual([undefined]);
    expect(ch.error).toBeUndefined();
  });
});
