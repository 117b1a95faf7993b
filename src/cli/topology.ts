/**
 * `warren topology`: draws a topology as a Mermaid flowchart or a Graphviz digraph. Exchanges point to
 * what they are bound to (labelled with the routing key); dead-letter, retry and alternate-exchange
 * paths are dashed. Retry and dead-letter paths come from queue arguments (`x-dead-letter-exchange`,
 * `x-dead-letter-routing-key`, `x-message-ttl`) and from the companions a warren consumer uses
 * (`<queue>.retry.<ms>` queues and the `<queue>.dead` exchange), when the config declares them.
 */
import type { ResolvedConfig } from '../index.js';

/** One node of the drawing. */
export interface TopologyNode {
  id: string;
  kind: 'exchange' | 'queue';
  name: string;
  /** Exchange type, or queue type when not classic. */
  detail: string | undefined;
}

/** One edge: a binding (solid) or a retry / dead-letter / alternate path (dashed). */
export interface TopologyEdge {
  from: string;
  to: string;
  label: string;
  dashed: boolean;
}

/** The graph both formats are drawn from. */
export interface TopologyGraph {
  nodes: TopologyNode[];
  edges: TopologyEdge[];
}

const RETRY_SUFFIX = /^(.*)\.retry\.(\d+)$/;

/** Builds the graph of a validated config. */
export function topologyGraph(config: ResolvedConfig): TopologyGraph {
  const nodes: TopologyNode[] = [];
  const edges: TopologyEdge[] = [];
  const ids = new Map<string, string>();
  const node = (kind: 'exchange' | 'queue', name: string, detail?: string): string => {
    const key = `${kind}:${name}`;
    const known = ids.get(key);
    if (known !== undefined) return known;
    const id = `${kind === 'exchange' ? 'x' : 'q'}${ids.size}`;
    ids.set(key, id);
    nodes.push({ id, kind, name, detail });
    return id;
  };
  const exchangeNode = (name: string) => node('exchange', name === '' ? '(default)' : name);

  for (const x of config.exchanges) node('exchange', x.name, x.type);
  for (const q of config.queues) {
    const type = q.arguments['x-queue-type'];
    node('queue', q.name || '(server-named)', typeof type === 'string' && type !== 'classic' ? type : undefined);
  }
  const queueNames = new Set(config.queues.map((q) => q.name));
  const exchangeNames = new Set(config.exchanges.map((x) => x.name));

  for (const q of config.queues) {
    const id = node('queue', q.name || '(server-named)');
    if (q.exchange !== undefined) {
      edges.push({ from: exchangeNode(q.exchange), to: id, label: q.routingKey ?? q.name, dashed: false });
    }
    const dlx = q.arguments['x-dead-letter-exchange'];
    if (typeof dlx === 'string') {
      const dlrk = q.arguments['x-dead-letter-routing-key'];
      const ttl = q.arguments['x-message-ttl'];
      const isRetry = typeof ttl === 'number' || typeof ttl === 'bigint';
      const what = isRetry ? `retry after ${String(ttl)} ms` : 'dead-letter';
      if (dlx === '' && typeof dlrk === 'string') {
        // Through the default exchange the routing key names the queue: draw the edge straight to it.
        edges.push({ from: id, to: node('queue', dlrk), label: what, dashed: true });
      } else {
        const label = typeof dlrk === 'string' ? `${what} (${dlrk})` : what;
        edges.push({ from: id, to: exchangeNode(dlx), label, dashed: true });
      }
    }
    // A warren consumer publishes failed messages to these companions itself (no queue argument says so).
    const retry = RETRY_SUFFIX.exec(q.name);
    if (retry && queueNames.has(retry[1]!)) {
      edges.push({ from: node('queue', retry[1]!), to: id, label: 'on failure', dashed: true });
    }
    if (exchangeNames.has(`${q.name}.dead`) && q.name !== '') {
      edges.push({ from: id, to: node('exchange', `${q.name}.dead`), label: 'attempts exhausted', dashed: true });
    }
  }
  for (const b of config.bindings) {
    const to = b.destinationType === 'exchange' ? exchangeNode(b.destination) : node('queue', b.destination);
    edges.push({ from: exchangeNode(b.source), to, label: b.routingKey, dashed: false });
  }
  for (const x of config.exchanges) {
    const ae = x.arguments['alternate-exchange'];
    if (typeof ae === 'string')
      edges.push({ from: node('exchange', x.name), to: exchangeNode(ae), label: 'unroutable', dashed: true });
  }
  return { nodes, edges };
}

const mermaidText = (s: string) => `"${s.replace(/"/g, '#quot;')}"`;

/** A Mermaid `flowchart LR`: exchanges as hexagons, queues as cylinders. */
export function toMermaid(g: TopologyGraph): string {
  const lines = ['flowchart LR'];
  for (const n of g.nodes) {
    const text = mermaidText(n.detail ? `${n.name} (${n.detail})` : n.name);
    lines.push(n.kind === 'exchange' ? `  ${n.id}{{${text}}}` : `  ${n.id}[(${text})]`);
  }
  for (const e of g.edges) {
    const arrow = e.dashed ? '-.->' : '-->';
    lines.push(
      e.label === '' ? `  ${e.from} ${arrow} ${e.to}` : `  ${e.from} ${arrow}|${mermaidText(e.label)}| ${e.to}`,
    );
  }
  return lines.join('\n');
}

const dotEscape = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
const dotText = (s: string) => `"${dotEscape(s)}"`;

/** A Graphviz `digraph`: exchanges as hexagons, queues as cylinders, paths of failure dashed. */
export function toDot(g: TopologyGraph): string {
  const lines = ['digraph topology {', '  rankdir=LR;'];
  for (const n of g.nodes) {
    // `\n` is Graphviz's own line break inside a label.
    const label = n.detail ? `"${dotEscape(n.name)}\\n(${dotEscape(n.detail)})"` : dotText(n.name);
    const shape = n.kind === 'exchange' ? 'hexagon' : 'cylinder';
    lines.push(`  ${n.id} [label=${label}, shape=${shape}];`);
  }
  for (const e of g.edges) {
    const attrs = [`label=${dotText(e.label)}`, ...(e.dashed ? ['style=dashed'] : [])];
    lines.push(`  ${e.from} -> ${e.to} [${attrs.join(', ')}];`);
  }
  lines.push('}');
  return lines.join('\n');
}
