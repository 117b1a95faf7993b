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
  queue: string;
}

export interface ConsumerOptions {
  url: string;
  queue: string;
  prefetch: number;
}

export interface ClientAdapter {
  openPublisher?(options: PublisherOptions, handlers: ConfirmHandlers): Promise<BenchPublisher>;
  openConsumer?(options: ConsumerOptions, handlers: DeliveryHandlers): Promise<BenchConsumer>;
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
