/** The states a connection or channel moves through, in order; a closed one never reopens. */
export type LifecycleState = 'opening' | 'open' | 'closing' | 'closed';

const ALLOWED: Record<LifecycleState, readonly LifecycleState[]> = {
  opening: ['open', 'closing', 'closed'],
  open: ['closing', 'closed'],
  closing: ['closed'],
  closed: [],
};

/**
 * One transition function for a lifecycle: every state change goes through {@link move}, which refuses
 * illegal moves (so a late event cannot reopen something closed) and reports each change.
 */
export class Lifecycle {
  private current: LifecycleState = 'opening';

  constructor(private readonly onChange: (from: LifecycleState, to: LifecycleState) => void = () => {}) {}

  get state(): LifecycleState {
    return this.current;
  }

  /** Moves to `to`; returns false (and changes nothing) when the move is not allowed from here. */
  move(to: LifecycleState): boolean {
    const from = this.current;
    if (!ALLOWED[from].includes(to)) return false;
    this.current = to;
    this.onChange(from, to);
    return true;
  }
}
