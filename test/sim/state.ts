/**
 * What the broker model holds (exchanges, queues, bindings, messages) and what it records for the
 * invariant checks (the ledger): every publish it took, confirmed, nacked or returned, every delivery, and
 * every protocol violation it saw the client commit.
 */
import type { BasicProperties } from '../../src/protocol/index.js';
import type { Binding, ExchangeType } from './routing.js';

/** One logical clock for the model and the driver, so that "before" means the same on both sides. */
export class Clock {
  now = 0;
  tick(): number {
    return ++this.now;
  }
}

export interface ExchangeState {
  name: string;
  type: ExchangeType;
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
}

export interface StoredMessage {
  exchange: string;
  routingKey: string;
  properties: BasicProperties;
  body: Buffer;
  redelivered: boolean;
}

export interface QueueState {
  name: string;
  durable: boolean;
  autoDelete: boolean;
  exclusiveOwner: number | undefined;
  arguments: string;
  ready: StoredMessage[];
}

/** What the client decided for one delivery, as the driver recorded it (see ClientView). */
export interface Decision {
  kind: 'ack' | 'nack' | 'reject';
  requeue: boolean;
  /** Order of the decision among all the driver's decisions. */
  seq: number;
  /**
   * A handler that threw: the client settles it only after its retry or dead-letter copy is confirmed
   * (settling first could lose it), so its ack/nack may legitimately follow later decisions' acks.
   */
  deferred?: boolean;
}

/** What the model may ask of the client side while it runs its live checks. */
export interface ClientView {
  /** The handler outcome the driver recorded for a delivery (by the model's delivery id), if any yet. */
  decision(deliveryId: string): Decision | undefined;
  /** True while the client's disconnect() is running. */
  disconnecting(): boolean;
  /** The delivery is settled at the broker: its decision is no longer needed (memory runs). */
  forget?(deliveryId: string): void;
}

export interface PublishRecord {
  /** Times the model received it (republishes count again). */
  received: number;
  /** Acks sent for a routed (or non-mandatory) copy, and the clock of the first. */
  accepted: number;
  acceptedAt: number[];
  /** Of those, acks written while the client's disconnect() was running. */
  acceptedWhileDisconnecting: number;
  nacked: number;
  returned: number;
  /** The reply text of a channel error this message caused. */
  culprit: string | undefined;
}

export interface DeliveryRecord {
  id: string;
  messageId: string | undefined;
  queue: string;
  connId: number;
  /** The channel instance (ids are reused; instances are not). */
  channelKey: string;
  tag: number;
  settled: string | undefined;
}

export type InvariantName =
  | 'publish-settled-once'
  | 'publish-resolved-unaccepted'
  | 'publish-rejected-without-reason'
  | 'accepted-not-resolved'
  | 'ack-reordered'
  | 'ack-unknown-tag'
  | 'ack-unresolved'
  | 'settle-mismatch'
  | 'rpc-settled-once'
  | 'rpc-wrong-result'
  | 'rpc-rejected-without-reason'
  /** A consumer delivered to, or subscribed again, after its stop() resolved. */
  | 'stopped-consumer-delivered'
  | 'disconnect-hung'
  | 'connection-left-open'
  | 'handle-leaked'
  | 'promise-pending'
  | 'unhandled-rejection'
  | 'protocol-violation'
  | 'memory-grows';

export interface Violation {
  invariant: InvariantName;
  detail: string;
}

export class Ledger {
  readonly publishes = new Map<string, PublishRecord>();
  /** RPC request body → reply text of the channel error the request caused. */
  readonly rpcCulprits = new Map<string, string>();
  /** Bodies of RPC requests the model returned (no queue bound). */
  readonly rpcReturned = new Set<string>();
  /** Reply texts of every channel error a publish caused. */
  readonly culpritTexts = new Set<string>();
  readonly deliveries = new Map<string, DeliveryRecord>();
  readonly violations: Violation[] = [];
  /** Wall times (performance.now) of connection losses, forced closes and unexplained channel closes. */
  readonly disruptions: number[] = [];
  /** Clock values of unexplained (not caused by a publish) closes of channels in confirm mode. */
  readonly confirmChannelCloses: number[] = [];

  publish(messageId: string): PublishRecord {
    let r = this.publishes.get(messageId);
    if (r === undefined) {
      r = {
        received: 0,
        accepted: 0,
        acceptedAt: [],
        acceptedWhileDisconnecting: 0,
        nacked: 0,
        returned: 0,
        culprit: undefined,
      };
      this.publishes.set(messageId, r);
    }
    return r;
  }

  violate(invariant: InvariantName, detail: string): void {
    this.violations.push({ invariant, detail });
  }

  /** Records a connection loss, forced close or unexplained channel close. */
  disrupted(): void {
    this.disruptions.push(performance.now());
  }

  /**
   * Disruptions between two wall times. A disruption shortly before `from` counts: the client may start an
   * operation after the broker acted and before the news arrived (loopback: well under the slack).
   */
  disruptionsBetween(from: number, to: number, slackMs = 50): number {
    return countBetween(this.disruptions, from - slackMs, to);
  }

  confirmClosesBetween(from: number, to: number): number {
    return countBetween(this.confirmChannelCloses, from, to);
  }
}

function countBetween(sorted: number[], from: number, to: number): number {
  let n = 0;
  for (const t of sorted) if (t > from && t <= to) n++;
  return n;
}

export type { Binding };
