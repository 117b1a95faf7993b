/**
 * What a benchmarked client implements. Each method is optional: a client is run only in the scenarios
 * it supports (the table shows "—" for the others). Everything an adapter does before it returns from
 * `open*` is set-up and is not measured; `publish` / `start` and the callbacks are.
 */

/** Where the publish window is told about confirms. The adapter calls exactly one of them per publish. */
export interface ConfirmHandlers {
  /** The broker acked the publish. */
  onConfirm(): void;
  /** The publish failed (nack, channel closed...): the run is aborted. */
  onError(err: unknown): void;
}

/** A connection with a channel in confirm mode, publishing to one queue through the default exchange. */
export interface BenchPublisher {
  /** Publishes `body` as a persistent message (delivery mode 2); must not block. */
  publish(body: Buffer): void;
  close(): Promise<void>;
}

export interface DeliveryHandlers {
  /** Call once per delivery, after acking it (basic.ack, single, not `multiple`). */
  onMessage(): void;
  /** The consumer failed: the run is aborted. */
  onError(err: unknown): void;
}

/** A connection with a channel whose prefetch is set, ready to consume one queue. */
export interface BenchConsumer {
  /** Starts consuming (basic.consume) with manual acks; may resolve before or after the first delivery. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface PublisherOptions {
  url: string;
  /** Routing key (the queue, through the default exchange unless `exchange` is given). */
  queue: string;
  /** Exchange to publish to; '' (the default exchange) when left out. */
  exchange?: string;
}

/**
 * A publisher whose `publish` returns only once the broker confirmed (blocking, or awaited one at a
 * time): the loop of a script that cannot pipeline. Persistent messages, as {@link BenchPublisher}.
 */
export interface BlockingPublisher {
  /** Publishes `body` and returns (or resolves) after its confirm. */
  publish(body: Buffer): void | Promise<void>;
  /** Publishes all `bodies` pipelined and returns after every confirm (optional). */
  publishMany?(bodies: Buffer[]): void | Promise<void>;
  close(): Promise<void>;
}

/** An RPC client and server on one queue. */
export interface BenchRpc {
  /** Sends `body` to the server and resolves with its reply (the server echoes the body). */
  call(body: Buffer): Promise<Buffer>;
  close(): Promise<void>;
}

/** What an external (non-Node) client's run reports: the same fields as a Node run's Stopwatch. */
export interface ExternalRun {
  n: number;
  wallMs: number;
  cpuUs: number;
  cpuSystemUs: number;
}

export interface ConsumerOptions {
  url: string;
  queue: string;
  prefetch: number;
}

export interface ClientAdapter {
  openPublisher?(options: PublisherOptions, handlers: ConfirmHandlers): Promise<BenchPublisher>;
  openConsumer?(options: ConsumerOptions, handlers: DeliveryHandlers): Promise<BenchConsumer>;
  /** `channels` publishers, each on its own channel of ONE connection, publisher i reporting to handlers[i]. */
  openChannelPublishers?(
    options: PublisherOptions & { channels: number },
    handlers: ConfirmHandlers[],
  ): Promise<{ publishers: BenchPublisher[]; close(): Promise<void> }>;
  openBlockingPublisher?(options: PublisherOptions): Promise<BlockingPublisher>;
  /** Its blocking publisher implements `publishMany`. */
  publishMany?: boolean;
  /** An RPC server answering on `queue` (it echoes the request body) and a client calling it. */
  openRpc?(options: { url: string; queue: string }): Promise<BenchRpc>;
  /**
   * A client in another language runs the whole measured loop itself (e.g. a Python script) and reports
   * the same fields; `scenarios` names the scenarios it implements.
   */
  external?: {
    scenarios: string[];
    run(scenario: string, ctx: { url: string; queue: string; n: number; bodySize: number }): Promise<ExternalRun>;
  };
}

/** One line of the client registry (bench/clients/index.ts). */
export interface ClientEntry {
  /** `subject`: a warren variant that is compared with the peers; `peer`: a library to compare against. */
  role: 'subject' | 'peer';
  /**
   * A subject the targets apply to (the engine). Other subjects are compared with the same peers
   * for information, with no target.
   */
  targeted?: boolean;
  /** Loaded lazily, so a worker only ever loads the one library it measures. */
  load(): Promise<{ default: ClientAdapter }>;
}
