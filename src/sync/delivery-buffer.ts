import type { Delivery } from '../connection/channel.js';

/**
 * The deliveries of one consumer of a blocking channel, held in the worker until the caller pulls them
 * (`SyncChannel.nextDelivery`). The channel's prefetch bounds how many wait here.
 */
export class DeliveryBuffer {
  private readonly waiting: Delivery[] = [];
  private head = 0;
  private puller: { resolve(d: Delivery | null): void; reject(err: Error): void; timer: NodeJS.Timeout } | undefined;
  private endedWith: Error | undefined;

  /** A delivery arrived from the broker. */
  push(delivery: Delivery): void {
    const puller = this.puller;
    if (puller) {
      this.puller = undefined;
      clearTimeout(puller.timer);
      puller.resolve(delivery);
    } else {
      this.waiting.push(delivery);
    }
  }

  /** The next delivery; null when none arrives within `timeoutMs`; rejects once the consumer has ended. */
  pull(timeoutMs: number): Promise<Delivery | null> {
    if (this.head < this.waiting.length) {
      const d = this.waiting[this.head]!;
      this.waiting[this.head++] = undefined as never;
      if (this.head === this.waiting.length) {
        this.waiting.length = 0;
        this.head = 0;
      }
      return Promise.resolve(d);
    }
    if (this.endedWith) return Promise.reject(this.endedWith);
    if (this.puller) return Promise.reject(new Error('a pull is already waiting on this consumer'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.puller = undefined;
        resolve(null);
      }, timeoutMs);
      this.puller = { resolve, reject, timer };
    });
  }

  /**
   * The consumer ended (cancelled, or its channel closed): a waiting pull and later ones reject with
   * `err` once what is buffered has been pulled.
   */
  end(err: Error): void {
    this.endedWith ??= err;
    const puller = this.puller;
    this.puller = undefined;
    if (puller) {
      clearTimeout(puller.timer);
      puller.reject(err);
    }
  }

  /** Takes every delivery not yet pulled (to hand back to the broker when the consumer is cancelled). */
  drain(): Delivery[] {
    const rest = this.waiting.slice(this.head);
    this.waiting.length = 0;
    this.head = 0;
    return rest;
  }
}
