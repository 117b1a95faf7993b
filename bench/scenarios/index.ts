import blockingMany from './blocking-many.js';
import blockingPublish from './blocking-publish.js';
import consume from './consume.js';
import { consumeOfSize, fanout, manyChannels, manyConnections, publishOfSize, rpc } from './factories.js';
import memory from './memory.js';
import memoryConsume from './memory-consume.js';
import publish from './publish.js';
import type { Scenario } from './types.js';

/**
 * Every scenario, in column / run order. To add one: write `bench/scenarios/<name>.ts` exporting a
 * {@link Scenario} and add a line here; a `throughput` scenario gets its own pair of table columns.
 */
export const SCENARIOS: Record<string, Scenario> = {
  publish,
  consume,
  'blocking-publish': blockingPublish,
  'blocking-many': blockingMany,
  'publish-16k': publishOfSize(16 * 1024, 20_000),
  'consume-16k': consumeOfSize(16 * 1024, 20_000),
  'publish-1m': publishOfSize(1024 * 1024, 300),
  'consume-1m': consumeOfSize(1024 * 1024, 300),
  fanout,
  'channels-100': manyChannels(100),
  'connections-10': manyConnections(10),
  'rpc-1': rpc(1, 500),
  'rpc-100': rpc(100, 20_000),
  memory,
  'memory-consume': memoryConsume,
};
