/**
 * The fault injector of the broker model. Every decision is drawn from its own seeded PRNG stream, once per
 * frame the model receives (never from wall time), so a run's faults follow the sequence of frames it sees.
 */
import { Prng } from './prng.js';

/** How often each fault happens: a probability per frame (or per publish / per reply). */
export interface FaultRates {
  /** Connection dropped (socket ended) before the frame is processed. */
  dropBefore: number;
  /** ... after the frame is processed and answered. */
  dropAfter: number;
  /** The broker closes the connection (connection.close 320 CONNECTION_FORCED). */
  connectionForced: number;
  /** A channel of the connection is closed by the broker (404/406/403/541). */
  channelClose: number;
  /** connection.blocked, unblocked a moment later. */
  blocked: number;
  /** A consumer of the connection is cancelled by the broker (basic.cancel). */
  cancel: number;
  /** A publisher confirm is held back (and later sent, possibly batched as multiple). */
  confirmDelay: number;
  /** A publish is nacked. */
  nack: number;
  /** A synchronous method's reply comes late. */
  slowReply: number;
  /** A synchronous method is never answered. */
  noReply: number;
  /** The broker stops reading the connection for good. */
  stopReading: number;
  /** Longest delay of a slow reply, in ms (default 40). */
  slowReplyMaxMs?: number;
}

export const NO_FAULTS: FaultRates = {
  dropBefore: 0,
  dropAfter: 0,
  connectionForced: 0,
  channelClose: 0,
  blocked: 0,
  cancel: 0,
  confirmDelay: 0,
  nack: 0,
  slowReply: 0,
  noReply: 0,
  stopReading: 0,
};

/** What happens to one frame before the model processes it. */
export type BeforeFrame = 'process' | 'drop' | 'stop-reading';

/** What happens after the model processed one frame. */
export type AfterFrame =
  | { kind: 'none' }
  | { kind: 'drop' }
  | { kind: 'connection-forced' }
  | { kind: 'channel-close'; replyCode: 404 | 406 | 403 | 541 }
  | { kind: 'blocked'; forMs: number }
  | { kind: 'cancel' };

/** How a synchronous method's reply goes out. */
export type ReplyPlan = { kind: 'now' } | { kind: 'late'; delayMs: number } | { kind: 'never' };

/** How a publish in confirm mode is confirmed. */
export type ConfirmPlan = { kind: 'ack' | 'nack'; holdFrames: number };

export class FaultInjector {
  private readonly prng: Prng;
  /** Frames seen so far (all connections). */
  frames = 0;
  /** Faults injected so far, by kind. */
  readonly counts: Record<string, number> = {};

  constructor(
    seed: number,
    readonly rates: FaultRates,
    /** Frames at the start of each connection (the handshake) get faults only at this fraction of the rate. */
    private readonly handshakeFactor = 0.5,
  ) {
    this.prng = new Prng(seed, 2);
  }

  private hit(p: number, kind: string): boolean {
    if (p <= 0) return false;
    const yes = this.prng.next() < p;
    if (yes) this.counts[kind] = (this.counts[kind] ?? 0) + 1;
    return yes;
  }

  before(handshake: boolean): BeforeFrame {
    this.frames++;
    const f = handshake ? this.handshakeFactor : 1;
    const r = this.rates;
    if (this.hit(r.dropBefore * f, 'drop-before')) return 'drop';
    if (!handshake && this.hit(r.stopReading, 'stop-reading')) return 'stop-reading';
    return 'process';
  }

  after(handshake: boolean): AfterFrame {
    const f = handshake ? this.handshakeFactor : 1;
    const r = this.rates;
    if (this.hit(r.dropAfter * f, 'drop-after')) return { kind: 'drop' };
    if (handshake) return { kind: 'none' };
    if (this.hit(r.connectionForced, 'connection-forced')) return { kind: 'connection-forced' };
    if (this.hit(r.channelClose, 'channel-close'))
      return { kind: 'channel-close', replyCode: this.prng.pick([404, 406, 403, 541] as const) };
    if (this.hit(r.blocked, 'blocked')) return { kind: 'blocked', forMs: this.prng.int(2, 30) };
    if (this.hit(r.cancel, 'cancel')) return { kind: 'cancel' };
    return { kind: 'none' };
  }

  reply(): ReplyPlan {
    const r = this.rates;
    if (this.hit(r.noReply, 'no-reply')) return { kind: 'never' };
    if (this.hit(r.slowReply, 'slow-reply')) return { kind: 'late', delayMs: this.prng.int(1, r.slowReplyMaxMs ?? 40) };
    return { kind: 'now' };
  }

  confirm(): ConfirmPlan {
    const r = this.rates;
    const kind = this.hit(r.nack, 'nack') ? 'nack' : 'ack';
    const holdFrames = this.hit(r.confirmDelay, 'confirm-delay') ? this.prng.int(1, 12) : 0;
    return { kind, holdFrames };
  }

  /** A number drawn for the model's own choices (which channel, which consumer). */
  int(lo: number, hi: number): number {
    return this.prng.int(lo, hi);
  }

  chance(p: number): boolean {
    return this.prng.chance(p);
  }
}
