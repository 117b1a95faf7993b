import { RpcTimeoutError } from '../protocol/errors.js';
import type { MethodInputs, MethodName } from '../protocol/spec.js';

interface Call {
  name: MethodName;
  args: unknown;
  expect: readonly string[];
  resolve(reply: unknown): void;
  reject(err: Error): void;
  onReply: ((reply: unknown) => void) | undefined;
}

/**
 * The synchronous methods of one channel: sent one at a time, in call order, each answered by the
 * reply the spec pairs with it. A channel exception fails the call in flight and everything queued.
 *
 * The call in flight waits at most `timeoutMs` for its reply: then it rejects with an
 * {@link RpcTimeoutError} and `onTimeout` runs (the channel closes, failing the queue through
 * {@link failAll}), because a reply arriving late would otherwise answer the next call. One timer, for the
 * call in flight only; cleared on its reply and by {@link failAll}.
 */
export class RpcQueue {
  private readonly queue: Call[] = [];
  private inFlight: Call | null = null;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly send: (name: MethodName, args: unknown) => void,
    private readonly timeoutMs: number,
    /** Where the calls go, for the error message (`channel 3`). */
    private readonly where: string,
    private readonly onTimeout: (err: RpcTimeoutError) => void,
  ) {}

  /** Names of the replies the call in flight waits for (empty when idle). */
  get awaiting(): readonly string[] {
    return this.inFlight?.expect ?? [];
  }

  /** The method in flight, for error messages. */
  get current(): MethodName | undefined {
    return this.inFlight?.name;
  }

  /**
   * Queues `name`; resolves with the reply. `onReply` runs synchronously when the reply arrives, before
   * any later frame is handled (consumers must be registered before their first delivery).
   */
  call<N extends MethodName, R>(
    name: N,
    args: MethodInputs[N],
    expect: readonly string[],
    onReply?: (reply: R) => void,
  ): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({
        name,
        args,
        expect,
        resolve: resolve as (r: unknown) => void,
        reject,
        onReply: onReply as ((r: unknown) => void) | undefined,
      });
      this.next();
    });
  }

  /** Hands a received reply to the call in flight; false when nothing waits for a reply of that name. */
  reply(name: string, value: unknown): boolean {
    const call = this.inFlight;
    if (call === null || !call.expect.includes(name)) return false;
    this.inFlight = null;
    clearTimeout(this.timer);
    this.timer = undefined;
    try {
      call.onReply?.(value);
      call.resolve(value);
    } catch (err) {
      call.reject(err as Error);
    }
    this.next();
    return true;
  }

  /** Rejects the call in flight and every queued call. */
  failAll(err: Error): void {
    const calls = this.inFlight ? [this.inFlight, ...this.queue] : [...this.queue];
    this.inFlight = null;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    for (const c of calls) c.reject(err);
  }

  private next(): void {
    if (this.inFlight !== null) return;
    const call = this.queue.shift();
    if (call === undefined) return;
    this.inFlight = call;
    try {
      this.send(call.name, call.args);
    } catch (err) {
      this.inFlight = null;
      call.reject(err as Error);
      this.next();
      return;
    }
    this.timer = setTimeout(this.expire, this.timeoutMs);
  }

  private readonly expire = (): void => {
    this.timer = undefined;
    const call = this.inFlight;
    if (call === null) return;
    this.inFlight = null;
    const err = new RpcTimeoutError(call.name, this.timeoutMs, this.where);
    call.reject(err);
    this.onTimeout(err);
  };
}
