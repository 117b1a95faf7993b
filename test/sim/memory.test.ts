/**
 * Memory stays bounded: in one long run (profile `memory`), the heap retained after a full GC at step 2400
 * is not larger than at step 800 by more than a small allowance, although ~1000 more messages, deliveries
 * and RPCs went through in between. Settled entries are checked and dropped as they settle, so the
 * harness itself holds only what is live.
 */
import { describe, expect, it } from 'vitest';
import { trackUnhandledRejections } from '../helpers/guards.js';
import { PROFILES } from './profiles.js';
import { describeFailure, runSeed } from './run.js';

trackUnhandledRejections();

/** Growth allowed between the two samples: well under 1 KiB per message that went through in between. */
const ALLOWED_GROWTH = 2 * 1024 * 1024;

describe('seeded fault simulation: memory', () => {
  it('retained heap does not grow with the length of a run', async () => {
    const p = PROFILES.memory;
    const r = await runSeed({ seed: 4242, steps: p.steps, mix: p.mix, rates: p.rates, heapSamplesAt: [800, 2400] });
    if (r.violations.length) console.log(describeFailure(r));
    expect(r.violations).toEqual([]);
    const early = r.stats.heapAt800 as number;
    const late = r.stats.heapAt2400 as number;
    console.log(
      `sim memory: heap ${(early / 2 ** 20).toFixed(1)} MiB at step 800, ${(late / 2 ** 20).toFixed(1)} MiB at step 2400; ${JSON.stringify(r.stats)}`,
    );
    expect(late - early).toBeLessThan(ALLOWED_GROWTH);
  });
});
