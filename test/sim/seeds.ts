/**
 * The fixed seed set CI runs (`npm run sim`), with profile `ci` (see profiles.ts): seeds of 1..70 that
 * passed 3 runs out of 3 on today's main (2875625), 40 of the quickest, about 40 s in all on a 2-core
 * machine. Every invariant is checked in full; the seeds that fail today are in known-failures.ts.
 */
export const CI_SEEDS: readonly number[] = [
  1, 2, 3, 4, 5, 6, 8, 9, 12, 14, 15, 16, 17, 18, 20, 21, 22, 23, 24, 25, 26, 28, 31, 34, 36, 37, 40, 41, 42, 43, 45,
  46, 47, 50, 51, 52, 53, 56, 57, 58,
];
