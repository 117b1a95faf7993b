/**
 * Regenerates src/protocol/spec.ts from spec/amqp-rabbitmq-0.9.1.json (`npm run generate`).
 * With `--check`, writes nothing and exits 1 when the committed file differs from what it would write.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type AmqpSpec, generateSpecSource } from './spec-codegen.js';

const specPath = fileURLToPath(new URL('../spec/amqp-rabbitmq-0.9.1.json', import.meta.url));
const outPath = fileURLToPath(new URL('../src/protocol/spec.ts', import.meta.url));

const source = generateSpecSource(JSON.parse(readFileSync(specPath, 'utf8')) as AmqpSpec);
if (process.argv.includes('--check')) {
  const current = readFileSync(outPath, 'utf8');
  if (current !== source) {
    console.error('src/protocol/spec.ts is out of date: run `npm run generate`');
    process.exit(1);
  }
  console.log('src/protocol/spec.ts is up to date');
} else {
  writeFileSync(outPath, source);
  console.log(`wrote ${outPath}`);
}
