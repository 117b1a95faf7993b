import { describe, expect, it } from 'vitest';
import { toDot, toMermaid, topologyGraph } from '../../../src/cli/topology.js';
import { validateConfig } from '../../../src/index.js';

const config = validateConfig({
  exchanges: [
    { name: 'orders', type: 'topic', arguments: { 'alternate-exchange': 'lost' } },
    { name: 'lost', type: 'fanout' },
    { name: 'jobs.dead', type: 'fanout' },
  ],
  queues: [
    { name: 'jobs', exchange: 'orders', routingKey: 'job.*' },
    {
      name: 'jobs.retry.500',
      arguments: { 'x-message-ttl': 500, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'jobs' },
    },
    { name: 'jobs.dead', exchange: 'jobs.dead', routingKey: '' },
    { name: 'say "hi"', arguments: { 'x-queue-type': 'quorum', 'x-dead-letter-exchange': 'lost' } },
  ],
  bindings: [{ source: 'orders', destination: 'lost', destinationType: 'exchange', routingKey: 'x.#' }],
});

describe('topology diagrams', () => {
  it('has an edge per binding and per retry / dead-letter / alternate path', () => {
    const g = topologyGraph(config);
    const name = (id: string) => g.nodes.find((n) => n.id === id)!.name;
    expect(g.edges.map((e) => `${name(e.from)} ${e.dashed ? '-.->' : '-->'} ${name(e.to)}: ${e.label}`)).toEqual([
      'orders --> jobs: job.*',
      'jobs -.-> jobs.dead: attempts exhausted',
      'jobs.retry.500 -.-> jobs: retry after 500 ms',
      'jobs -.-> jobs.retry.500: on failure',
      'jobs.dead --> jobs.dead: ',
      'say "hi" -.-> lost: dead-letter',
      'orders --> lost: x.#',
      'orders -.-> lost: unroutable',
    ]);
  });

  it('escapes quotes in Mermaid and dot', () => {
    const g = topologyGraph(config);
    expect(toMermaid(g)).toContain('[("say #quot;hi#quot; (quorum)")]');
    expect(toDot(g)).toContain('[label="say \\"hi\\"\\n(quorum)", shape=cylinder];');
    expect(toDot(g)).toMatch(/x\d -> x\d \[label="unroutable", style=dashed\];/);
  });
});
