/**
 * The seeded fault simulation: the real client against the broker model with faults injected; each run
 * checked against the invariants (see run.ts, invariants.ts, model.ts).
 *
 * - `npm run sim`: the fixed CI seeds (seeds.ts, profile `ci`) and every seed that once found a defect
 *   (known-failures.ts), each a regression case.
 * - `SIM_SEEDS=N npm run sim`: seeds 1..N (profile `SIM_PROFILE`, default `full`); every failure reported.
 * - `SIM_SEED=k npm run sim`: one seed, every event printed as it happens.
 * - `SIM_SET=known npm run sim`: only the regression seeds (known-failures.ts).
 */
import { describe, expect, it } from 'vitest';
import { trackUnhandledRejections } from '../helpers/guards.js';
import { KNOWN_FAILURES } from './known-failures.js';
import { PROFILES, type ProfileName } from './profiles.js';
import { describeFailure, type RunResult, runSeed } from './run.js';
import { CI_SEEDS } from './seeds.js';

trackUnhandledRejections();

const env = process.env;
const profileName = (env.SIM_PROFILE ?? (env.SIM_SEEDS || env.SIM_SEED ? 'full' : 'ci')) as ProfileName;
const profile = PROFILES[profileName];
if (profile === undefined) throw new Error(`SIM_PROFILE must be one of ${Object.keys(PROFILES).join(', ')}`);

async function run(seed: number, p = profile, verbose = false): Promise<RunResult> {
  return runSeed({ seed, steps: p.steps, mix: p.mix, rates: p.rates, verbose });
}

/** Runs each seed; on failure re-runs it twice more and reports how often it reproduces. */
async function runAll(seeds: ReadonlyArray<{ seed: number; profile: ProfileName }>): Promise<string[]> {
  const failures: string[] = [];
  const t0 = Date.now();
  for (const { seed, profile: name } of seeds) {
    const r = await run(seed, PROFILES[name]);
    if (r.violations.length === 0) continue;
    let again = 1;
    for (let k = 0; k < 2; k++) if ((await run(seed, PROFILES[name])).violations.length > 0) again++;
    failures.push(`${describeFailure(r, 80, name)}\n(failed ${again}/3 times when re-run)`);
  }
  console.log(`sim: ${seeds.length} seed(s) in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${failures.length} failed`);
  return failures;
}

describe('seeded fault simulation', () => {
  if (env.SIM_SEED) {
    it(`seed ${env.SIM_SEED} (profile ${profileName})`, async () => {
      const r = await run(Number(env.SIM_SEED), profile, true);
      if (r.violations.length) console.log(describeFailure(r, 400, profileName));
      expect(r.violations).toEqual([]);
    });
  } else if (env.SIM_SET === 'known') {
    it('the known failures pass (once their fixes are merged)', async () => {
      const failures = await runAll(KNOWN_FAILURES.map((k) => ({ seed: k.seed, profile: k.profile })));
      for (const f of failures) console.log(f);
      expect(failures.map((f) => f.split('\n')[0])).toEqual([]);
    });
  } else {
    const count = env.SIM_SEEDS ? Number(env.SIM_SEEDS) : 0;
    const seeds =
      count > 0
        ? Array.from({ length: count }, (_, i) => ({ seed: i + 1, profile: profileName }))
        : CI_SEEDS.map((seed) => ({ seed, profile: 'ci' as ProfileName }));
    if (count === 0) {
      // Every defect the simulation found, kept as a regression case: its seed and profile replay it.
      for (const k of KNOWN_FAILURES) {
        it(`regression: seed ${k.seed} (profile ${k.profile}) keeps ${k.breaks.join(', ')}`, async () => {
          const failures = await runAll([{ seed: k.seed, profile: k.profile }]);
          for (const f of failures) console.log(`${f}\nfound as: ${k.cause}`);
          expect(failures.map((f) => f.split('\n')[0])).toEqual([]);
        });
      }
    }
    it(`${seeds.length} seeds keep every invariant`, async () => {
      expect(seeds.length).toBeGreaterThan(0);
      const failures = await runAll(seeds);
      for (const f of failures) console.log(f);
      expect(failures.map((f) => f.split('\n')[0])).toEqual([]);
    });
  }
});
