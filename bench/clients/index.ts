import type { ClientEntry } from './types.js';

/**
 * Every client the benchmark knows, in table order. To add one: write `bench/clients/<name>.ts` with a
 * default export implementing {@link ClientAdapter} (only the scenarios it supports) and add a line here.
 */
export const CLIENTS: Record<string, ClientEntry> = {
  warren: { role: 'subject', targeted: true, load: () => import('./warren.js') },
  amqplib: { role: 'peer', load: () => import('./amqplib.js') },
  cloudamqp: { role: 'peer', load: () => import('./cloudamqp.js') },
  'rabbitmq-client': { role: 'peer', load: () => import('./rabbitmq-client.js') },
  'warren-mq': { role: 'subject', load: () => import('./warren-mq.js') },
  'warren-sync': { role: 'subject', load: () => import('./warren-sync.js') },
  pika: { role: 'peer', load: () => import('./pika.js') },
  // Robust (recovering) publishers: peers of warren-mq's publishMessage in the publish scenario.
  'rabbitmq-client-publisher': { role: 'peer', load: () => import('./rabbitmq-client-publisher.js') },
  'amqp-connection-manager': { role: 'peer', load: () => import('./amqp-connection-manager.js') },
};
