/**
 * Timers and sockets created by warren's client and engine code and not yet destroyed, found from each
 * handle's creation stack: the innermost project frame decides who made it (the broker model decodes with
 * warren's codec, so a frame of src/protocol alone does not make a handle warren's).
 */
import { createHook } from 'node:async_hooks';

const TRACKED = new Set(['Timeout', 'TCPWRAP', 'TLSWRAP', 'Immediate']);
const PROJECT = /[\\/](src|test)[\\/][^\s]*\.ts/;
const WARREN = /[\\/]src[\\/](connection|client)[\\/]/;

export class WarrenHandles {
  private readonly live = new Map<number, string>();
  private readonly hook = createHook({
    init: (asyncId, type) => {
      if (!TRACKED.has(type)) return;
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 30;
      const stack = new Error().stack ?? '';
      Error.stackTraceLimit = limit;
      const lines = stack.split('\n').slice(1);
      const first = lines.find((l) => PROJECT.test(l) && !l.includes('test/sim/handles.ts'));
      if (first !== undefined && WARREN.test(first)) this.live.set(asyncId, `${type} created ${first.trim()}`);
    },
    destroy: (asyncId) => {
      this.live.delete(asyncId);
    },
  });

  start(): void {
    this.live.clear();
    this.hook.enable();
  }

  /** Waits up to `graceMs` for every tracked handle to go; returns what is left. */
  async left(graceMs: number): Promise<string[]> {
    const deadline = Date.now() + graceMs;
    while (this.live.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return [...this.live.values()];
  }

  stop(): void {
    this.hook.disable();
    this.live.clear();
  }
}
