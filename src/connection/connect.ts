import { Connection } from './connection.js';
import { type ConnectOptions, resolveConnectOptions } from './options.js';
import { openSocket } from './transport.js';

/**
 * Connects to a broker and completes the AMQP handshake.
 *
 * Accepts an `amqp://` / `amqps://` URL or {@link ConnectOptions}. Rejects with a `ConnectionError`:
 * code `ACCESS_REFUSED` (replyCode 403) for bad credentials, `NOT_ALLOWED` (530) for a vhost the user
 * may not open, `ERR_CONNECTION_TIMEOUT` when the socket or handshake takes longer than
 * `connectionTimeout`, or the socket's own code (`ECONNREFUSED`...).
 *
 * @example
 * ```ts
 * import { connect } from 'warren';
 * const conn = await connect('amqp://guest:guest@127.0.0.1:5672/%2F?heartbeat=30');
 * const ch = await conn.createChannel();
 * const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
 * await ch.basicPublish({ routingKey: queue }, 'hello');
 * await conn.close();
 * ```
 */
export async function connect(urlOrOptions: string | ConnectOptions = {}): Promise<Connection> {
  const options = resolveConnectOptions(urlOrOptions);
  const deadline = Date.now() + options.connectionTimeout;
  if (options.stream) return Connection.open(options.stream, options, deadline);
  const { socket, reads } = await openSocket(options, deadline);
  return Connection.open(socket, options, deadline, reads);
}
