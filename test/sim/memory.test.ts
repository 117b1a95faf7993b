/**
 * Memory stays bounded: in one long run (profile `memory`, 4 KiB bodies), the heap plus external memory
 * (message bodies) retained after a full GC at step 4000 is not larger than at step 1000 by more than
 * 3 MiB, although ~1900 more messages (~7.5 MiB of bodies), their deliveries and RPCs went through in
 * between. The harness checks settled entries and drops them as they settle, so it holds only what is live.
 * What this catches: anything retained per message of about a body's size or more (checked by planting
 * such a leak in the driver: the test then fails).
 */
import { describe, expect, it } from 'vitest';
import { trackUnhandledRejections } from '../helpers/guards.js';
import { PROFILES } from './profiles.js';
import { describeFailure, runSeed } from './run.js';

trackUnhandledRejections();

/** Growth allowed between the two samples: well under 1 KiB per message that went through in between. */
const ALLOWED_GROWTH = 3 * 1024 * 1024;

describe('seeded fault simulation: memory', () => {
  it('retained heap does not grow with the length of a run', async () => {
    const p = PROFILES.memory;
    const r = await runSeed({
      seed: 4242,
      steps: p.steps,
      mix: p.mix,
      rates: p.rates,
      heapSamplesAt: [1000, 4000],
      bodyBytes: 4096,
    });
    if (r.violations.length) console.log(describeFailure(r, 80, 'memory'));
    expect(r.violations).toEqual([]);
    const early = r.stats.heapAt1000 as number;
    const late = r.stats.heapAt4000 as number;
    console.log(
      `sim memory: heap ${(early / 2 ** 20).toFixed(1)} MiB at step 1000, ${(late / 2 ** 20).toFixed(1)} MiB at step 4000; ${JSON.stringify(r.stats)}`,
    );
    expect(r.stats.published as number).toBeGreaterThan(2000);
    expect(late - early).toBeLessThan(ALLOWED_GROWTH);
  });
});
