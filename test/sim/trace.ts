/** The event trace of one run: a bounded ring of readable lines, printed when a run fails. */
export class Trace {
  private readonly lines: string[] = [];
  private head = 0;
  private count = 0;
  private readonly t0 = performance.now();

  constructor(
    private readonly capacity = 400,
    /** Print every event as it happens (SIM_SEED runs). */
    private readonly echo = false,
  ) {}

  add(who: string, what: string): void {
    const line = `${(performance.now() - this.t0).toFixed(1).padStart(8)}ms ${who.padEnd(6)} ${what}`;
    if (this.echo) console.log(line);
    if (this.lines.length < this.capacity) this.lines.push(line);
    else this.lines[this.head] = line;
    this.head = (this.head + 1) % this.capacity;
    this.count++;
  }

  /** Events recorded in all (the ring keeps only the last `capacity`). */
  get total(): number {
    return this.count;
  }

  /** The last `n` events, oldest first. */
  tail(n = this.capacity): string[] {
    const ordered =
      this.lines.length < this.capacity
        ? this.lines.slice()
        : this.lines.slice(this.head).concat(this.lines.slice(0, this.head));
    return ordered.slice(-n);
  }
}
