/**
 * The targets that compare two cells of the same run (never timed tests): each names a subject
 * cell and a reference cell (client × scenario) and the ratio the subject must reach.
 */
import type { ThroughputSummary } from './report.js';

export interface Target {
  /** What is claimed, in words. */
  what: string;
  subject: { client: string; scenario: string };
  /** One client, or several: then the best of them in this run (lowest time or CPU, highest rate). */
  reference: { client: string | string[]; scenario: string };
  /**
   * `wall`: time per message (1 / msg/s), `cpu`: CPU µs per message; the ratio is subject / reference,
   * so lower is better and it holds when ≤ `max`. `rate`: msg/s subject / reference, holds when ≥ `min`.
   */
  metric: 'wall' | 'cpu' | 'rate';
  max?: number;
  min?: number;
  /** Shown for information (no target in the issue). */
  info?: boolean;
}

export interface TargetResult extends Target {
  /** The reference actually compared with (the best client of a list). */
  reference: { client: string; scenario: string };
  subjectValue: number;
  referenceValue: number;
  ratio: number;
  holds: boolean | null;
}

const sync = { client: 'warren-sync', scenario: 'blocking-publish' };
const mqPublish = { client: 'warren-mq', scenario: 'publish' };
/** The peers' own engine-level calls (a confirm channel, basic.consume). */
const ENGINE_PEERS = ['amqplib', 'cloudamqp', 'rabbitmq-client'];
/** Peers' publishers that hold and republish across reconnects, as publishMessage does. */
const ROBUST_PUBLISHERS = ['rabbitmq-client-publisher', 'amqp-connection-manager'];

export const TARGETS: Target[] = [
  {
    what: 'SyncRabbitMQ.publishMessage wall per call ≤ pika BlockingChannel confirmed publish',
    subject: sync,
    reference: { client: 'pika', scenario: 'blocking-publish' },
    metric: 'wall',
    max: 1,
  },
  {
    what: 'SyncRabbitMQ.publishMessage CPU per call ≤ pika BlockingChannel confirmed publish',
    subject: sync,
    reference: { client: 'pika', scenario: 'blocking-publish' },
    metric: 'cpu',
    max: 1,
  },
  {
    what: 'SyncRabbitMQ.publishMessage wall per call within 1.1× of awaited AsyncRabbitMQ.publishMessage',
    subject: sync,
    reference: { client: 'warren-mq', scenario: 'blocking-publish' },
    metric: 'wall',
    max: 1.1,
  },
  {
    what: 'SyncRabbitMQ.publishMessage CPU per call within 1.1× of awaited AsyncRabbitMQ.publishMessage',
    subject: sync,
    reference: { client: 'warren-mq', scenario: 'blocking-publish' },
    metric: 'cpu',
    max: 1.1,
  },
  {
    what: 'SyncRabbitMQ.publishMany(1000) rate ≥ 10× one-at-a-time publishMessage',
    subject: { client: 'warren-sync', scenario: 'blocking-many' },
    reference: sync,
    metric: 'rate',
    min: 10,
  },
  // The high-level client against the peers' engine-level calls and their robust (recovering) publishers.
  {
    what: 'AsyncRabbitMQ.publishMessage CPU ≤ 0.6× the best engine-level peer (confirmed publish)',
    subject: mqPublish,
    reference: { client: ENGINE_PEERS, scenario: 'publish' },
    metric: 'cpu',
    max: 0.6,
  },
  {
    what: 'AsyncRabbitMQ.publishMessage msg/s ≥ 1× the best engine-level peer',
    subject: mqPublish,
    reference: { client: ENGINE_PEERS, scenario: 'publish' },
    metric: 'rate',
    min: 1,
  },
  {
    what: 'AsyncRabbitMQ.publishMessage CPU ≤ 0.5× the best robust publisher',
    subject: mqPublish,
    reference: { client: ROBUST_PUBLISHERS, scenario: 'publish' },
    metric: 'cpu',
    max: 0.5,
  },
  {
    what: 'AsyncRabbitMQ.publishMessage msg/s ≥ 1× the best robust publisher',
    subject: mqPublish,
    reference: { client: ROBUST_PUBLISHERS, scenario: 'publish' },
    metric: 'rate',
    min: 1,
  },
  {
    what: 'mq.consume + ack CPU ≤ 0.5× the best peer consumer',
    subject: { client: 'warren-mq', scenario: 'consume' },
    reference: { client: ENGINE_PEERS, scenario: 'consume' },
    metric: 'cpu',
    max: 0.5,
  },
];

export function evaluateTargets(summary: ThroughputSummary, targets: Target[] = TARGETS): TargetResult[] {
  const out: TargetResult[] = [];
  for (const t of targets) {
    const a = summary[t.subject.client]?.[t.subject.scenario];
    if (!a) continue;
    const pick = (c: typeof a) =>
      t.metric === 'cpu' ? c.cpuUsPerMsg : t.metric === 'wall' ? 1e6 / c.msgPerSec : c.msgPerSec;
    const better = (x: number, y: number) => (t.metric === 'rate' ? x > y : x < y);
    let best: { client: string; value: number } | undefined;
    for (const client of [t.reference.client].flat()) {
      const b = summary[client]?.[t.reference.scenario];
      if (b && (best === undefined || better(pick(b), best.value))) best = { client, value: pick(b) };
    }
    if (best === undefined) continue;
    const subjectValue = pick(a);
    const ratio = subjectValue / best.value;
    const holds = t.info ? null : t.metric === 'rate' ? ratio >= (t.min ?? 1) : ratio <= (t.max ?? 1);
    out.push({
      ...t,
      reference: { client: best.client, scenario: t.reference.scenario },
      subjectValue,
      referenceValue: best.value,
      ratio,
      holds,
    });
  }
  return out;
}
