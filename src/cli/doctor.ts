/**
 * `warren doctor`: can this client work with this broker? Connects, prints the server, its capabilities
 * and what was negotiated, then tries each permission in the vhost for real on scratch entities:
 * configure (declare an exclusive queue and a scratch exchange), write (publish to the exchange, routed
 * to the queue, confirmed) and read (fetch the message back). Exit code 0 only when everything worked.
 */
import { randomBytes } from 'node:crypto';
import { type Channel, parseAmqpUrl } from '../engine.js';
import { redactUrl, WarrenError } from '../index.js';
import { type ConnectOptions, client, toJson } from './client.js';
import type { CliIO } from './io.js';

/** The result of one check. */
export interface Check {
  ok: boolean;
  /** Why it failed (error code and message). */
  error?: string;
}

/** What `warren doctor --json` prints. */
export interface DoctorReport {
  ok: boolean;
  urls: string[];
  connect: Check;
  server?: { product: string; version: string; platform: string; capabilities: string[] };
  negotiated?: { frameMax: number; channelMax: number; heartbeat: number };
  vhost?: string;
  permissions?: { configure: Check; write: Check; read: Check };
}

function describe(err: unknown): string {
  return err instanceof WarrenError ? `${err.code}: ${err.message}` : String((err as Error)?.message ?? err);
}

async function attempt(run: () => Promise<unknown>): Promise<Check> {
  try {
    await run();
    return { ok: true };
  } catch (err) {
    return { ok: false, error: describe(err) };
  }
}

/** Runs the checks; returns the exit code (0 when all passed). */
export async function doctor(o: ConnectOptions & { json: boolean }, io: CliIO): Promise<number> {
  const mq = client(o, {}, 'warren doctor');
  const report: DoctorReport = { ok: false, urls: mq.settings.urls.map(redactUrl), connect: { ok: false } };
  try {
    report.connect = await attempt(() => mq.connect());
    const conn = mq.connection;
    if (report.connect.ok && conn) {
      const p = conn.serverProperties;
      const caps = (p.capabilities ?? {}) as Record<string, unknown>;
      report.server = {
        product: String(p.product),
        version: String(p.version),
        platform: String(p.platform),
        capabilities: Object.keys(caps).filter((k) => caps[k] === true),
      };
      report.negotiated = { frameMax: conn.frameMax, channelMax: conn.channelMax, heartbeat: conn.heartbeatSeconds };
      report.vhost = parseAmqpUrl(mq.settings.urls[0]!).vhost ?? '/';
      const name = `warren.doctor.${randomBytes(6).toString('hex')}`;
      // A refused operation closes its channel (403): each step opens its own.
      const onChannel = async (run: (ch: Channel) => Promise<unknown>) => {
        const ch = await conn.createChannel();
        try {
          await run(ch);
        } finally {
          await ch.close().catch(() => {});
        }
      };
      let queue: string | undefined;
      const configure = await attempt(() =>
        onChannel(async (ch) => {
          await ch.exchangeDeclare({ exchange: name, type: 'direct', durable: false, autoDelete: false });
          ({ queue } = await ch.queueDeclare({ queue: name, exclusive: true, durable: false }));
        }),
      );
      let write: Check = { ok: false, error: 'not tried: configure failed' };
      let read: Check = { ok: false, error: 'not tried: configure failed' };
      if (configure.ok && queue !== undefined) {
        const q = queue;
        write = await attempt(() =>
          onChannel(async (ch) => {
            await ch.queueBind({ queue: q, exchange: name, routingKey: 'doctor' });
            await ch.confirmSelect();
            await ch.basicPublish({ exchange: name, routingKey: 'doctor' }, Buffer.from('doctor'));
          }),
        );
        read = await attempt(() =>
          onChannel(async (ch) => {
            const m = await ch.basicGet({ queue: q, noAck: true });
            if (write.ok && m === null) throw new Error('the message published to the scratch queue was not there');
          }),
        );
      }
      report.permissions = { configure, write, read };
      // Clean up what configure made (the exclusive queue would go with the connection anyway).
      await onChannel(async (ch) => {
        if (queue !== undefined) await ch.queueDelete({ queue });
        await ch.exchangeDelete({ exchange: name });
      }).catch(() => {});
      report.ok = configure.ok && write.ok && read.ok;
    }
  } finally {
    await mq.disconnect().catch(() => {});
  }
  print(report, o.json, io);
  return report.ok ? 0 : 1;
}

function print(r: DoctorReport, json: boolean, io: CliIO): void {
  if (json) {
    io.out(toJson(r));
    return;
  }
  const mark = (c: Check) => (c.ok ? 'ok' : `FAILED (${c.error})`);
  io.out(`connect ${r.urls.join(', ')}: ${mark(r.connect)}`);
  if (r.server) {
    io.out(`server: ${r.server.product} ${r.server.version} (${r.server.platform})`);
    io.out(`capabilities: ${r.server.capabilities.join(', ')}`);
  }
  if (r.negotiated)
    io.out(
      `negotiated: frame_max ${r.negotiated.frameMax}, channel_max ${r.negotiated.channelMax}, heartbeat ${r.negotiated.heartbeat} s`,
    );
  if (r.permissions) {
    io.out(`vhost ${JSON.stringify(r.vhost)}:`);
    io.out(`  configure (declare a queue and an exchange): ${mark(r.permissions.configure)}`);
    io.out(`  write (publish, confirmed): ${mark(r.permissions.write)}`);
    io.out(`  read (fetch the message back): ${mark(r.permissions.read)}`);
  }
  io.out(r.ok ? 'doctor: all checks passed' : 'doctor: some checks failed');
}
