/** Safe consumers; see `consume/consumer.ts`. */

/** Broadcast subscriptions; see `consume/broadcast.ts`. */
export * from './consume/broadcast.js';
export * from './consume/consumer.js';
/** Consuming as a loop; see `consume/iterate.ts`. */
export * from './consume/iterate.js';
/** Deleting unused queues; see `consume/reap.ts`. */
export * from './consume/reap.js';
