import { describe, expect, it } from 'vitest';
import { type BrokerHost, ensureBroker, NoBrokerError } from '../../../demo/broker.js';

function host(o: { up: boolean[]; installed: boolean }) {
  const calls: string[] = [];
  const logs: string[] = [];
  const h: BrokerHost = {
    answers: async () => o.up.shift() ?? false,
    which: (name) => (o.installed ? `/usr/sbin/${name}` : undefined),
    run: (command, args) => {
      calls.push([command, ...args].join(' '));
      return 0;
    },
    log: (line) => logs.push(line),
  };
  return { h, calls, logs };
}

describe('demo: finding the broker', () => {
  it('does nothing when the broker answers', async () => {
    const { h, calls } = host({ up: [true], installed: true });
    await ensureBroker('amqp://guest:guest@localhost:5672/', h);
    expect(calls).toEqual([]);
  });

  it('starts the installed rabbitmq-server when nothing answers on localhost, waits, and says so', async () => {
    const { h, calls, logs } = host({ up: [false, true], installed: true });
    await ensureBroker('amqp://guest:guest@localhost:5672/', h);
    expect(calls).toEqual([
      '/usr/sbin/rabbitmq-server -detached',
      '/usr/sbin/rabbitmqctl -q await_startup --timeout 90',
    ]);
    expect(logs[0]).toContain('starting the installed RabbitMQ');
    expect(logs[1]).toContain('RabbitMQ started');
  });

  it('explains how to get one when none is installed', async () => {
    const { h, calls } = host({ up: [false], installed: false });
    const err = await ensureBroker('amqp://localhost', h).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoBrokerError);
    expect((err as Error).message).toContain('rabbitmq-server is not installed');
    expect((err as Error).message).toContain('docker run');
    expect(calls).toEqual([]);
  });

  it('never starts a local server for a remote or non-default RABBITMQ_URL', async () => {
    const { h, calls } = host({ up: [false], installed: true });
    await expect(ensureBroker('amqp://rabbit.internal:5672/', h)).rejects.toThrow(
      /nothing answers at rabbit.internal:5672/,
    );
    expect(calls).toEqual([]);
  });
});
