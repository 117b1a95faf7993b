/** Connections and channels over real sockets (or any duplex stream). */
export * from './channel.js';
export * from './connect.js';
export * from './connection.js';
export { VERSION } from './handshake.js';
export type { LifecycleState } from './lifecycle.js';
export * from './options.js';
// redactUrl and redactText are exported by the client's settings module (the same functions).
export { type AmqpUrl, parseUrl } from './url.js';
