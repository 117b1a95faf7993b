/**
 * The fixture of the consume test files: clients disconnected and queues/exchanges (with their retry and
 * dead-letter companions) deleted after every test; no unhandled rejection, no socket or timer left behind.
 */
import { afterAll, afterEach, beforeEach } from 'vitest';
import { AsyncRabbitMQ, type AsyncRabbitMQOptions } from '../../../src/client/async-rabbitmq.js';
import type { RabbitMQConfig } from '../../../src/client/config.js';
import { deadLetterName, retryQueueName } from '../../../src/client/consumer.js';
import type { Channel, GetMessage } from '../../../src/connection/channel.js';
import { connect } from '../../../src/connection/connect.js';
import type { Connection } from '../../../src/connection/connection.js';
import { brokerUrl, uniqueName } from '../../helpers/broker.js';
import { trackUnhandledRejections } from '../../helpers/guards.js';
import { expectNoOpenHandles, handleSnapshot } from '../../helpers/handles.js';

export interface ConsumeFixture {
  /** A connected client (unless `connectNow` is false), disconnected after the test. */
  client(config?: RabbitMQConfig, options?: AsyncRabbitMQOptions, connectNow?: boolean): Promise<AsyncRabbitMQ>;
  /** A unique queue name; it, its `.dead` companions and the given retry queues are deleted after the test. */
  queueName(label: string, retryDelays?: number[]): string;
  /** Deletes these queues / exchanges too after the test. */
  deleteAfter(entities: { queues?: string[]; exchanges?: string[] }): void;
  /** A connection of the test file's own, for inspecting queues. */
  adminConnection(): Promise<Connection>;
  adminChannelDo<T>(fn: (ch: Channel) => Promise<T>): Promise<T>;
  queueInfo(queue: string): Promise<{ messageCount: number; consumerCount: number }>;
  /** Takes every message left in `queue`. */
  drain(queue: string): Promise<GetMessage[]>;
}

/** Registers the hooks of the fixture for the calling test file and returns its helpers. */
export function consumeFixture(): ConsumeFixture {
  trackUnhandledRejections();
  let cleanups: Array<() => Promise<unknown>> = [];
  let queues: string[] = [];
  let exchanges: string[] = [];
  let admin: Connection | undefined;
  let baseline: Record<string, number> = {};

  const adminConnection = async (): Promise<Connection> => {
    if (admin === undefined || !admin.isOpen) admin = await connect(brokerUrl());
    return admin;
  };
  const adminChannelDo = async <T>(fn: (ch: Channel) => Promise<T>): Promise<T> => {
    const ch = await (await adminConnection()).createChannel();
    try {
      return await fn(ch);
    } finally {
      await ch.close();
    }
  };

  afterAll(async () => {
    await admin?.close();
  });
  beforeEach(() => {
    baseline = handleSnapshot();
  });
  afterEach(async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => {});
    cleanups = [];
    await adminChannelDo(async (ch) => {
      for (const queue of queues) await ch.queueDelete({ queue });
      for (const exchange of exchanges) await ch.exchangeDelete({ exchange });
    });
    queues = [];
    exchanges = [];
    // The admin connection stays open for the whole file: count it in the baseline.
    await expectNoOpenHandles({ ...baseline, TCPSocketWrap: (baseline.TCPSocketWrap ?? 0) + 1 }, 2000);
  });

  return {
    async client(config = {}, options = {}, connectNow = true) {
      const mq = new AsyncRabbitMQ(config, { urls: brokerUrl(), disconnectTimeoutMs: 5000, ...options });
      if (connectNow) await mq.connect();
      cleanups.push(() => mq.disconnect());
      return mq;
    },
    queueName(label, retryDelays = []) {
      const q = uniqueName(label);
      queues.push(q, deadLetterName(q), ...retryDelays.map((d) => retryQueueName(q, d)));
      exchanges.push(deadLetterName(q));
      return q;
    },
    deleteAfter(entities) {
      queues.push(...(entities.queues ?? []));
      exchanges.push(...(entities.exchanges ?? []));
    },
    adminConnection,
    adminChannelDo,
    queueInfo: (queue) => adminChannelDo((ch) => ch.queueDeclare({ queue, passive: true })),
    drain: (queue) =>
      adminChannelDo(async (ch) => {
        const out: GetMessage[] = [];
        for (;;) {
          const m = await ch.basicGet({ queue, noAck: true });
          if (m === null) return out;
          out.push(m);
        }
      }),
  };
}
