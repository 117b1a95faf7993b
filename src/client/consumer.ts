/** Safe consumers; see `consume/consumer.ts`. */
export * from './consume/consumer.js';
