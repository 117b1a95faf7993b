/**
 * Heartbeats for one connection.
 *
 * Sending: checked twice per interval; a heartbeat frame goes out when nothing was written since the last
 * check. Receiving: a deadline timer fires exactly two intervals after the last byte arrived (the spec's
 * rule), re-armed lazily — a chunk only records the time, the timer moves itself forward when it fires
 * early — so a peer that stops, even in the middle of a frame, is detected on time at no cost per chunk.
 */
export class Heartbeat {
  private sendTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private lastWrites = -1;
  private lastReceivedAt = Date.now();
  private readonly timeoutMs: number;

  constructor(
    private readonly intervalSeconds: number,
    private readonly io: {
      /** Counter that changes whenever something is written. */
      writes(): number;
      sendHeartbeat(): void;
      timedOut(silentForMs: number): void;
    },
  ) {
    this.timeoutMs = intervalSeconds * 2000;
  }

  start(): void {
    if (this.intervalSeconds <= 0 || this.sendTimer) return;
    this.lastReceivedAt = Date.now();
    this.sendTimer = setInterval(this.sendTick, (this.intervalSeconds * 1000) / 2);
    this.sendTimer.unref();
    this.armDeadline(this.timeoutMs);
  }

  /** Records that bytes arrived. Cheap: called for every chunk. */
  received(): void {
    this.lastReceivedAt = Date.now();
  }

  stop(): void {
    clearInterval(this.sendTimer);
    clearTimeout(this.deadlineTimer);
    this.sendTimer = undefined;
    this.deadlineTimer = undefined;
  }

  private armDeadline(ms: number): void {
    this.deadlineTimer = setTimeout(this.deadlineTick, ms);
    this.deadlineTimer.unref();
  }

  private readonly deadlineTick = (): void => {
    const silentFor = Date.now() - this.lastReceivedAt;
    if (silentFor >= this.timeoutMs) {
      this.stop();
      this.io.timedOut(silentFor);
      return;
    }
    this.armDeadline(this.timeoutMs - silentFor);
  };

  private readonly sendTick = (): void => {
    const writes = this.io.writes();
    if (writes === this.lastWrites) this.io.sendHeartbeat();
    this.lastWrites = this.io.writes();
  };
}
