/**
 * The targets that compare two cells of the same run (never timed tests): each names a subject
 * cell and a reference cell (client × scenario) and the ratio the subject must reach.
 */
import type { ThroughputSummary } from './report.js';

export interface Target {
  /** What is claimed, in words. */
  what: string;
  subject: { client: string; scenario: string };
  reference: { client: string; scenario: string };
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
  subjectValue: number;
  referenceValue: number;
  ratio: number;
  holds: boolean | null;
}

const sync = { client: 'warren-sync', scenario: 'blocking-publish' };

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
  // The high-level publishMessage against the robust publishers of other libraries (no target: information).
  ...['rabbitmq-client-publisher', 'amqp-connection-manager'].flatMap((peer): Target[] =>
    (['rate', 'cpu'] as const).map((metric) => ({
      what: `AsyncRabbitMQ.publishMessage (windowed) ${metric === 'rate' ? 'msg/s' : 'CPU'} vs ${peer}`,
      subject: { client: 'warren-mq', scenario: 'publish' },
      reference: { client: peer, scenario: 'publish' },
      metric,
      info: true,
    })),
  ),
];

export function evaluateTargets(summary: ThroughputSummary, targets: Target[] = TARGETS): TargetResult[] {
  const out: TargetResult[] = [];
  for (const t of targets) {
    const a = summary[t.subject.client]?.[t.subject.scenario];
    const b = summary[t.reference.client]?.[t.reference.scenario];
    if (!a || !b) continue;
    const pick = (c: typeof a) =>
      t.metric === 'cpu' ? c.cpuUsPerMsg : t.metric === 'wall' ? 1e6 / c.msgPerSec : c.msgPerSec;
    const subjectValue = pick(a);
    const referenceValue = pick(b);
    const ratio = subjectValue / referenceValue;
    const holds = t.info ? null : t.metric === 'rate' ? ratio >= (t.min ?? 1) : ratio <= (t.max ?? 1);
    out.push({ ...t, subjectValue, referenceValue, ratio, holds });
  }
  return out;
}
