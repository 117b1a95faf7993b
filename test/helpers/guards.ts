import { afterAll, beforeAll, expect } from 'vitest';

/**
 * Registers a collector of unhandled rejections for the whole file: asserts in afterAll that there were none.
 */
export function trackUnhandledRejections(): void {
  const seen: unknown[] = [];
  const collect = (reason: unknown) => seen.push(reason);
  beforeAll(() => {
    process.on('unhandledRejection', collect);
  });
  afterAll(async () => {
    // Give rejections created by the last test a chance to be reported.
    await new Promise((r) => setTimeout(r, 50));
    process.off('unhandledRejection', collect);
    expect(seen.map((r) => (r instanceof Error ? `${r.name}: ${r.message}` : String(r)))).toEqual([]);
  });
}
