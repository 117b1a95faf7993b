/**
 * basic.qos: per-consumer prefetch only. Global qos is a deprecated feature that RabbitMQ 4.3 denies by
 * default (and whose meaning RabbitMQ changed from the spec's anyway): the engine refuses to send it.
 */
import { describe, expect, it } from 'vitest';
import { WarrenError } from '../../../src/protocol/errors.js';
import { engineSuite } from './engine-helpers.js';

const suite = engineSuite();

describe('basic.qos', () => {
  it('refuses global: true before sending anything; the channel stays open and takes a per-consumer qos', async () => {
    const conn = await suite.open();
    const ch = await conn.createChannel();
    const err = await ch.basicQos({ prefetchCount: 10, global: true } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WarrenError);
    expect((err as WarrenError).code).toBe('ERR_GLOBAL_QOS');
    expect((err as WarrenError).recoverable).toBe(false);
    expect((err as Error).message).toContain('global_qos');
    expect(ch.isOpen).toBe(true);
    await ch.basicQos({ prefetchCount: 10 });
    expect(ch.isOpen).toBe(true);
    expect(conn.isOpen).toBe(true);
  });
});
