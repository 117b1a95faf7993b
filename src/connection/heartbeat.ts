/**
 * Heartbeats for one connection. Checks twice per interval: sends a heartbeat frame when nothing was
 * written since the last check, and reports a timeout when nothing at all was received for two
 * intervals (the spec's rule), which also catches a peer that stopped sending in the middle of a frame.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;
  private lastWrites = -1;
  private lastReceivedAt = Date.now();

  constructor(
    private readonly intervalSeconds: number,
    private readonly io: {
      /** Counter that changes whenever something is written. */
      writes(): number;
      sendHeartbeat(): void;
      timedOut(silentForMs: number): void;
    },
  ) {}

  start(): void {
    if (this.intervalSeconds <= 0 || this.timer) return;
    this.lastReceivedAt = Date.now();
    this.timer = setInterval(this.tick, (this.intervalSeconds * 1000) / 2);
    this.timer.unref();
  }

  /** Records that bytes arrived. Cheap: called for every chunk. */
  received(): void {
    this.lastReceivedAt = Date.now();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private readonly tick = (): void => {
    const silentFor = Date.now() - this.lastReceivedAt;
    if (silentFor >= this.intervalSeconds * 2000) {
      this.stop();
      this.io.timedOut(silentFor);
      return;
    }
    const writes = this.io.writes();
    if (writes === this.lastWrites) this.io.sendHeartbeat();
    this.lastWrites = this.io.writes();
  };
}
