import blockingMany from './blocking-many.js';
import blockingPublish from './blocking-publish.js';
import consume from './consume.js';
import memory from './memory.js';
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
  memory,
};
