/** Runs seeds from the command line (exploration): `npx tsx test/sim/cli.ts FROM COUNT [STEPS]`. */
import { PROFILES, type ProfileName } from './profiles.js';
import { describeFailure, runSeed } from './run.js';

const from = Number(process.argv[2] ?? 1);
const count = Number(process.argv[3] ?? 20);
const profile = PROFILES[(process.env.SIM_PROFILE ?? 'full') as ProfileName];
const steps = Number(process.argv[4] ?? profile.steps);
const verbose = process.env.SIM_VERBOSE === '1';
const t0 = Date.now();
let failed = 0;
for (let seed = from; seed < from + count; seed++) {
  const t = Date.now();
  const r = await runSeed({ seed, steps, verbose, mix: profile.mix, rates: profile.rates });
  const kinds = [...new Set(r.violations.map((v) => v.invariant))];
  console.log(
    `seed ${seed}: ${kinds.length ? `FAIL ${kinds.join(',')}` : 'ok'} ${Date.now() - t}ms ${JSON.stringify(r.stats)}`,
  );
  if (kinds.length) {
    failed++;
    if (process.env.SIM_DETAIL === '1') console.log(describeFailure(r, 60, process.env.SIM_PROFILE ?? 'full'));
  }
}
console.log(`${count} seeds, ${failed} failed, ${Date.now() - t0} ms`);
