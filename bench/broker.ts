/** The orchestrator's own warren connection: queue set-up, pre-filling, checks and clean-up. */
import { type Channel, type Connection, connect } from '../src/connection/index.js';
import { PublishWindow } from './measure.js';
import type { BrokerAdmin } from './scenarios/types.js';

/** Unconfirmed publishes while pre-filling (not measured, so as fast as it goes). */
const FILL_WINDOW = 5000;

export class WarrenAdmin implements BrokerAdmin {
  private channel: Channel | undefined;

  private constructor(private readonly conn: Connection) {}

  static async open(url: string): Promise<WarrenAdmin> {
    return new WarrenAdmin(await connect(url));
  }

  /** What the broker says it is (connection.start server-properties). */
  get broker(): { product: string; version: string } {
    const p = this.conn.serverProperties;
    return { product: String(p.product ?? 'unknown'), version: String(p.version ?? 'unknown') };
  }

  async declare(queue: string, args: Record<string, number | string> = {}): Promise<void> {
    const ch = await this.ch();
    await ch.queueDeclare({ queue, durable: true, exclusive: false, autoDelete: false, arguments: args });
  }

  async declareFanout(exchange: string, queues: string[]): Promise<void> {
    const ch = await this.ch();
    await ch.exchangeDeclare({ exchange, type: 'fanout', durable: true });
    for (const queue of queues) {
      await this.declare(queue);
      await ch.queueBind({ queue, exchange, routingKey: '' });
    }
  }

  async deleteExchange(exchange: string): Promise<void> {
    try {
      const ch = await this.ch();
      await ch.exchangeDelete({ exchange });
    } catch (err) {
      process.stderr.write(`warning: could not delete exchange ${exchange}: ${(err as Error).message}\n`);
    }
  }

  async fill(queue: string, n: number, body: Buffer): Promise<void> {
    const ch = await this.conn.createChannel();
    try {
      await ch.confirmSelect();
      const window = new PublishWindow(n, FILL_WINDOW, body);
      const target = { exchange: '', routingKey: queue };
      const properties = { deliveryMode: 2 } as const;
      await window.run({
        publish: (b) => {
          ch.basicPublish(target, b, properties).then(window.onConfirm, window.onError);
        },
        close: async () => {},
      });
    } finally {
      await ch.close();
    }
  }

  async count(queue: string): Promise<number> {
    const ch = await this.ch();
    return (await ch.queueDeclare({ queue, passive: true })).messageCount;
  }

  /** Deletes the queue; never throws (it is clean-up). */
  async delete(queue: string): Promise<void> {
    try {
      const ch = await this.ch();
      await ch.queueDelete({ queue });
    } catch (err) {
      process.stderr.write(`warning: could not delete queue ${queue}: ${(err as Error).message}\n`);
    }
  }

  close(): Promise<void> {
    return this.conn.close();
  }

  /** A channel for set-up calls; a new one when a channel error closed the last. */
  private async ch(): Promise<Channel> {
    if (this.channel?.isOpen) return this.channel;
    this.channel = await this.conn.createChannel();
    return this.channel;
  }
}
