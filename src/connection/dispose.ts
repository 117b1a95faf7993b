/**
 * `Symbol.asyncDispose`, for `await using`: Node 20.4+ defines it (Node 18 and older 20s did not; then the
 * well-known registry symbol Node uses is taken, so nothing needs a polyfill).
 * @module
 */
export const asyncDispose: typeof Symbol.asyncDispose =
  Symbol.asyncDispose ?? (Symbol.for('nodejs.asyncDispose') as typeof Symbol.asyncDispose);
