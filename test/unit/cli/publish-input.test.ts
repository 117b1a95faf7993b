import { describe, expect, it } from 'vitest';
import { configFormat } from '../../../src/cli/config-file.js';
import { type PublishCliOptions, parseNdjson } from '../../../src/cli/publish.js';
import { UsageError } from '../../../src/cli/usage.js';
import { thrown } from '../../helpers/thrown.js';

const o: PublishCliOptions = { header: ['x-from=cli'], json: false, persistent: true, mandatory: true, ndjson: true };

describe('publish --ndjson input', () => {
  it('reads bare bodies and envelopes with properties; CLI headers are merged under the line headers', () => {
    const m = parseNdjson(
      [
        '{"a":1}',
        '"text"',
        '{"body":"b","routingKey":"other","exchange":"ex","properties":{"headers":{"x-k":1},"deliveryMode":1,"timestamp":"2026-01-01T00:00:00.000Z"}}',
      ].join('\n'),
      'q',
      o,
    );
    expect(m.map((x) => [x.routingKey, x.body])).toEqual([
      ['q', { a: 1 }],
      ['q', 'text'],
      ['q', 'b'],
    ]);
    expect(m[2]!.options).toMatchObject({ headers: { 'x-from': 'cli', 'x-k': 1 }, persistent: false });
    expect(m[2]!.options.timestamp).toEqual(new Date('2026-01-01T00:00:00.000Z'));
    expect(m[2]!.options.exchange).toBeUndefined(); // a routing key was given: it wins, with the default exchange
  });

  it('takes routingKey and exchange from the line when none is given', () => {
    const [m] = parseNdjson('{"bodyBase64":"AQI=","routingKey":"k","exchange":"ex"}', undefined, o);
    expect(m).toMatchObject({ routingKey: 'k', body: Buffer.from([1, 2]), options: { exchange: 'ex' } });
  });

  it('names the line and the field that is wrong', () => {
    const message = (text: string) => thrown(UsageError, () => parseNdjson(text, undefined, o)).message;
    expect(message('{"body":"x"}')).toBe('line 1: no routing key (give one, or use {"routingKey", "body"})');
    expect(message('\n{"body":"x","routingKey":"k","properties":{"colour":"red"}}')).toBe(
      'line 2: unknown property "colour"',
    );
    expect(message('{"body":"x","routingKey":"k","extra":1}')).toBe('line 1: unknown field "extra"');
    expect(message('{"body":5,"routingKey":"k"}')).toBe('line 1: body must be a string, an object or an array');
    expect(message('\n\n')).toBe('no messages: the input has no NDJSON lines');
    expect(message('{')).toMatch(/^line 1: not valid JSON: /);
  });

  it('config files: the format follows the extension', () => {
    expect(['t.json', 't.yaml', 't.YML', 't.mjs', 't.cjs', 't.js', 'topology'].map(configFormat)).toEqual([
      'json',
      'yaml',
      'yaml',
      'module',
      'module',
      'module',
      'json',
    ]);
  });
});
