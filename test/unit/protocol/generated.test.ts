/**
 * The committed generated codec must be exactly what the generator produces from the committed spec JSON:
 * anyone who edits spec.ts by hand, or changes the generator or the spec without regenerating, fails here.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type AmqpSpec, generateSpecSource } from '../../../scripts/spec-codegen.js';

const specPath = new URL('../../../spec/amqp-rabbitmq-0.9.1.json', import.meta.url);
const generatedPath = new URL('../../../src/protocol/spec.ts', import.meta.url);

const specText = readFileSync(specPath, 'utf8');
const spec = JSON.parse(specText) as AmqpSpec;

/** Describes the first difference between two texts by line, for a readable failure message. */
function firstDifference(expected: string, actual: string): string | null {
  if (expected === actual) return null;
  const e = expected.split('\n');
  const a = actual.split('\n');
  for (let i = 0; i < Math.max(e.length, a.length); i++) {
    if (e[i] !== a[i]) {
      return [
        `src/protocol/spec.ts differs from the generator output at line ${i + 1} (run \`npm run generate\`):`,
        `  generated: ${JSON.stringify(e[i] ?? '<end of file>')}`,
        `  committed: ${JSON.stringify(a[i] ?? '<end of file>')}`,
      ].join('\n');
    }
  }
  // Same lines but different bytes cannot happen with split('\n'); kept for completeness.
  return `src/protocol/spec.ts differs from the generator output (lengths ${expected.length} vs ${actual.length})`;
}

describe('generated spec.ts', () => {
  it('is byte for byte what scripts/spec-codegen.ts generates from spec/amqp-rabbitmq-0.9.1.json', () => {
    const generated = generateSpecSource(spec);
    const committed = readFileSync(generatedPath, 'utf8');
    expect(firstDifference(generated, committed)).toBeNull();
    // Byte comparison as well (catches encoding or line-ending drift the line diff would not name).
    expect(Buffer.compare(Buffer.from(generated, 'utf8'), readFileSync(generatedPath))).toBe(0);
  });

  it('generation is deterministic', () => {
    expect(generateSpecSource(spec)).toBe(generateSpecSource(JSON.parse(specText) as AmqpSpec));
  });

  it('firstDifference names the first differing line', () => {
    expect(firstDifference('a\nb\nc', 'a\nx\nc')).toContain('line 2');
    expect(firstDifference('a\nb', 'a\nb\nc')).toContain('<end of file>');
    expect(firstDifference('same', 'same')).toBeNull();
  });

  it('the spec copy in spec/ still carries its copyright and permission notice', () => {
    expect(Array.isArray(spec.copyright)).toBe(true);
    const notice = spec.copyright.join('');
    expect(notice).toMatch(/^Copyright \(C\) 2008-20\d\d VMware, Inc\. or its affiliates\./);
    expect(notice).toContain('Permission is hereby granted, free of charge');
    expect(notice).toContain('The above copyright notice and this permission notice shall be');
    expect(notice).toContain('included in all copies or substantial portions of the Software.');
    expect(notice).toContain('THE SOFTWARE IS PROVIDED "AS IS"');
  });

  it('the generated file reproduces the copyright notice', () => {
    const committed = readFileSync(generatedPath, 'utf8');
    const header = committed.split('\n').slice(0, 40).join('\n');
    expect(header).toContain('// Copyright (C) 2008-2020 VMware, Inc. or its affiliates.');
    expect(header).toContain('// Permission is hereby granted, free of charge, to any person');
    expect(header).toContain('// DO NOT EDIT.');
  });
});
