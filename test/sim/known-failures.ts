/**
 * Seeds that break an invariant on today's main, with the invariant and the likely cause. They are NOT in
 * the CI set yet: the fixes are being made on other branches. Once a fix lands, move its seeds into CI
 * (run them with `SIM_SET=known npm run sim`: that test passes only when every listed seed passes).
 */
import type { ProfileName } from './profiles.js';
import type { InvariantName } from './state.js';

export interface KnownFailure {
  seed: number;
  profile: ProfileName;
  /** The invariant(s) the seed breaks today. */
  breaks: InvariantName[];
  /** What goes wrong, and where in the code. */
  cause: string;
  /** How often it failed when re-run 3 times (e.g. "3/3"). */
  reproduces: string;
}

export const KNOWN_FAILURES: readonly KnownFailure[] = [];
