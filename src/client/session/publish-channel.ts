/**
 * The owner of a session's publish channel: one confirm-mode channel per generation, handed to the
 * {@link Publisher} once the whole generation is set up, replaced when the broker closes it (a 404 on a
 * missing exchange...) or keeps nacking on it.
 * @module
 */
import type { Channel } from '../../connection/channel.js';
import type { Connection } from '../../connection/connection.js';
import { ConnectionError, WarrenError } from '../../protocol/errors.js';
import type { Publisher } from '../publisher.js';
import type { Logger } from '../settings.js';
import type { Participant } from './types.js';

/** What the owner needs from its session. */
export interface PublishChannelHost {
  readonly logger: Logger;
  report(err: unknown, what: string): void;
  /** The connection of `gen` cannot go on (no channel can be opened on it): end the generation. */
  fail(gen: number, err: Error): void;
}

export class PublishChannel implements Participant {
  private gen = 0;
  private conn: Connection | undefined;
  private channel: Channel | undefined;
  /** The generation whose channel the publisher writes on (set by {@link start}). */
  private started = 0;

  constructor(
    private readonly publisher: Publisher,
    private readonly host: PublishChannelHost,
  ) {
    publisher.onNackingChannel = (ch) => this.replace(ch);
  }

  /** True when the publisher has an open channel of the current generation. */
  get isOpen(): boolean {
    return this.started !== 0 && this.started === this.gen && (this.channel?.isOpen ?? false);
  }

  async attach(conn: Connection, gen: number): Promise<void> {
    this.gen = gen;
    this.conn = conn;
    this.started = 0;
    const ch = await this.open(conn);
    if (this.gen !== gen) {
      await ch.close().catch(() => {});
      return;
    }
    this.adopt(gen, ch);
  }

  /** The whole generation is set up: the publisher writes from now on, starting with what it held. */
  start(gen: number): void {
    if (gen !== this.gen || this.channel === undefined) return;
    this.started = gen;
    this.publisher.attach(this.channel);
  }

  detach(gen: number, err: Error): void {
    if (gen !== this.gen) return;
    this.gen = 0;
    this.started = 0;
    this.conn = undefined;
    this.channel = undefined;
    this.publisher.detach(err);
    this.publisher.resume();
  }

  /** Publishing is drained by the session itself (it knows whether the connection can still confirm). */
  async stop(_deadline: number): Promise<void> {}

  private async open(conn: Connection): Promise<Channel> {
    const ch = await conn.createChannel();
    try {
      await ch.confirmSelect();
    } catch (err) {
      await ch.close().catch(() => {});
      throw err;
    }
    return ch;
  }

  private adopt(gen: number, ch: Channel): void {
    this.channel = ch;
    ch.on('close', (err) => this.closed(gen, ch, err));
  }

  /** The channel closed while its connection may still be open (e.g. 404 on a missing exchange): open another. */
  private closed(gen: number, ch: Channel, err: Error | undefined): void {
    if (gen !== this.gen || this.channel !== ch) return;
    this.channel = undefined;
    const conn = this.conn;
    if (err === undefined || err instanceof ConnectionError || conn === undefined || !conn.isOpen) return;
    // The publisher tells the culprits (a 404 names the exchange) from the bystanders, which go again.
    this.publisher.detach(err);
    this.reopen(gen, conn);
  }

  /**
   * The channel keeps nacking (see Publisher.onNackingChannel): publish on a new one instead. What was in
   * flight goes back to the queue first (the old channel's late confirms are still honoured).
   */
  private replace(ch: Channel): void {
    const conn = this.conn;
    const gen = this.gen;
    if (this.channel !== ch || conn === undefined || !conn.isOpen) return;
    this.host.logger.warn({}, 'warren: the publish channel keeps nacking; replacing it');
    this.channel = undefined;
    this.publisher.detach(new WarrenError('publish channel replaced', { code: 'ERR_CHANNEL_REPLACED' }));
    ch.close().catch(() => {});
    this.reopen(gen, conn);
  }

  private reopen(gen: number, conn: Connection): void {
    this.open(conn).then(
      (ch) => {
        if (gen !== this.gen) {
          ch.close().catch(() => {});
          return;
        }
        this.adopt(gen, ch);
        if (this.started === gen) this.publisher.attach(ch);
      },
      (e: unknown) => {
        if (gen !== this.gen) return;
        this.host.report(e, 'reopening the publish channel');
        this.host.fail(gen, e instanceof Error ? e : new ConnectionError(String(e)));
      },
    );
  }
}
