import { ConnectionError, ProtocolError } from '../protocol/errors.js';
import type { FieldTable } from '../protocol/field-table.js';
import type { MethodInputs, MethodOf } from '../protocol/spec.js';
import type { ResolvedConnectOptions } from './options.js';

/** warren's version, announced in the client properties. */
export const VERSION = '0.1.0';

/** The RabbitMQ extensions warren understands, announced so the broker uses them. */
const CAPABILITIES: FieldTable = {
  publisher_confirms: true,
  exchange_exchange_bindings: true,
  'basic.nack': true,
  consumer_cancel_notify: true,
  'connection.blocked': true,
  authentication_failure_close: true,
  per_consumer_qos: true,
  consumer_priorities: true,
};

/** Builds connection.start-ok from the broker's connection.start. */
export function startOk(
  start: MethodOf<'connection.start'>,
  options: ResolvedConnectOptions,
): MethodInputs['connection.start-ok'] {
  if (start.versionMajor !== 0 || start.versionMinor !== 9) {
    throw new ProtocolError(502, `broker speaks AMQP ${start.versionMajor}-${start.versionMinor}, not 0-9-1`);
  }
  const offered = start.mechanisms.split(' ').filter(Boolean);
  if (!offered.includes(options.mechanism)) {
    throw new ConnectionError(
      `broker does not offer SASL mechanism ${options.mechanism} (it offers ${offered.join(', ') || 'none'})`,
      { code: 'ERR_AUTH_MECHANISM', recoverable: false },
    );
  }
  const clientProperties: FieldTable = {
    product: 'warren',
    version: VERSION,
    platform: `Node.js ${process.version}`,
    information: 'https://www.npmjs.com/package/warren',
    ...options.clientProperties,
    capabilities: CAPABILITIES,
  };
  if (options.connectionName !== undefined) clientProperties.connection_name = options.connectionName;
  const response =
    options.mechanism === 'PLAIN'
      ? Buffer.from(`\u0000${options.username}\u0000${options.password}`, 'utf8').toString('utf8')
      : '';
  return { clientProperties, mechanism: options.mechanism, response, locale: 'en_US' };
}

/**
 * The smallest frame_max warren works with: RabbitMQ 4.1+ refuses less, and the `frameMax` option cannot be
 * set lower either.
 */
export const MIN_FRAME_MAX = 8192;

/** The limits both sides agreed on. */
export interface Tuned {
  channelMax: number;
  frameMax: number;
  heartbeat: number;
}

/**
 * Agrees limits from connection.tune: for channel_max and frame_max, 0 means "no limit" on that side, so
 * the other side's value wins; otherwise the lower of the two. The heartbeat is the client's to veto: 0 from
 * the client means off (tune-ok carries 0, which RabbitMQ honours), as users who write `heartbeat: 0`
 * expect; otherwise the lower non-zero value of the two.
 */
export function negotiate(tune: MethodOf<'connection.tune'>, options: ResolvedConnectOptions): Tuned {
  // The client may not propose more than the broker, so a broker below 8192 cannot be tuned up: refuse.
  if (tune.frameMax !== 0 && tune.frameMax < MIN_FRAME_MAX) {
    throw new ProtocolError(
      501,
      `broker proposed frame_max ${tune.frameMax}, below the minimum of ${MIN_FRAME_MAX} (RabbitMQ 4.x refuses less): refusing to connect`,
    );
  }
  const pick = (client: number, server: number) =>
    client === 0 || server === 0 ? Math.max(client, server) : Math.min(client, server);
  return {
    channelMax: pick(options.channelMax, tune.channelMax) || 65535,
    frameMax: pick(options.frameMax, tune.frameMax),
    heartbeat: options.heartbeat === 0 ? 0 : pick(options.heartbeat, tune.heartbeat),
  };
}
