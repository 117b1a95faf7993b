/** RabbitMQ's routing rules for the exchange types the client uses: default, direct, fanout, topic. */

export type ExchangeType = 'direct' | 'fanout' | 'topic' | 'headers';

export interface Binding {
  exchange: string;
  queue: string;
  routingKey: string;
}

/** True when a topic binding key (`*` one word, `#` zero or more words) matches a routing key. */
export function topicMatches(pattern: string, key: string): boolean {
  const p = pattern.split('.');
  const k = key === '' ? [] : key.split('.');
  const memo = new Map<string, boolean>();
  const go = (i: number, j: number): boolean => {
    const id = `${i},${j}`;
    const known = memo.get(id);
    if (known !== undefined) return known;
    let r: boolean;
    if (i === p.length) r = j === k.length;
    else if (p[i] === '#') r = go(i + 1, j) || (j < k.length && go(i, j + 1));
    else if (j === k.length) r = false;
    else r = (p[i] === '*' || p[i] === k[j]) && go(i + 1, j + 1);
    memo.set(id, r);
    return r;
  };
  return go(0, 0);
}

/**
 * The queues a message published to `exchange` (of `type`) with `routingKey` goes to. The default exchange
 * (`''`) routes to the queue named by the routing key, if it exists.
 */
export function route(
  exchange: string,
  type: ExchangeType,
  routingKey: string,
  bindings: readonly Binding[],
  queueExists: (name: string) => boolean,
): string[] {
  if (exchange === '') return queueExists(routingKey) ? [routingKey] : [];
  const out = new Set<string>();
  for (const b of bindings) {
    if (b.exchange !== exchange) continue;
    const hit =
      type === 'fanout' ||
      (type === 'direct' && b.routingKey === routingKey) ||
      (type === 'topic' && topicMatches(b.routingKey, routingKey));
    if (hit && queueExists(b.queue)) out.add(b.queue);
  }
  return [...out];
}
