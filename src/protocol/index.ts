/** The pure AMQP 0-9-1 layer: generated method tables, frame and field-table codec. No I/O. */
export * from './content.js';
export * from './errors.js';
export * from './field-table.js';
export * from './frame.js';
export * from './reader.js';
export * from './spec.js';
export * from './timestamp.js';
export * from './writer.js';
