import { expect } from 'vitest';

const WATCHED = new Set(['TCPSocketWrap', 'TLSWrap', 'Timeout', 'TCPServerWrap', 'ConnectWrap', 'Immediate']);

function watched(): string[] {
  return process.getActiveResourcesInfo().filter((r) => WATCHED.has(r));
}

/** Counts of sockets and timers alive now, to compare against later. */
export function handleSnapshot(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of watched()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

/**
 * Asserts that no socket or timer is alive beyond `baseline`. libuv releases a closed socket's handle a
 * moment after its 'close' event, so this waits up to `graceMs` for the count to come down first.
 */
export async function expectNoOpenHandles(baseline: Record<string, number>, graceMs = 500): Promise<void> {
  const deadline = Date.now() + graceMs;
  let extra: Record<string, number> = {};
  do {
    extra = {};
    const now = handleSnapshot();
    for (const [k, n] of Object.entries(now)) {
      const more = n - (baseline[k] ?? 0);
      if (more > 0) extra[k] = more;
    }
    if (Object.keys(extra).length === 0) return;
    await new Promise((r) => setTimeout(r, 20));
  } while (Date.now() < deadline);
  // The check's own setTimeout is gone by now; what is left was leaked.
  expect(extra, 'handles left open').toEqual({});
}
