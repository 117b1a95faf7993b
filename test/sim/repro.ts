/** Re-runs every known failure 3 times: `npx tsx test/sim/repro.ts` prints how often each still fails. */
import { KNOWN_FAILURES } from './known-failures.js';
import { PROFILES } from './profiles.js';
import { runSeed } from './run.js';

for (const k of KNOWN_FAILURES) {
  const p = PROFILES[k.profile];
  let failed = 0;
  const seen = new Set<string>();
  const t0 = Date.now();
  for (let i = 0; i < 3; i++) {
    const r = await runSeed({ seed: k.seed, steps: p.steps, mix: p.mix, rates: p.rates });
    if (r.violations.length > 0) failed++;
    for (const v of r.violations) seen.add(v.invariant);
  }
  const missing = k.breaks.filter((b) => !seen.has(b));
  console.log(
    `${k.profile} seed ${k.seed}: failed ${failed}/3 [${[...seen].join(', ')}]${missing.length ? ` (not seen: ${missing.join(', ')})` : ''} ${Date.now() - t0} ms`,
  );
}
