/**
 * URL query parameters as amqplib and the RabbitMQ URI spec accept them: each one either sets the option it
 * names or is warned about (by name, never by value) through the logger — never dropped silently.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveSettings } from '../../../src/client/settings.js';
import { ConnectOptionsError, parseAmqpUrl, resolveConnectOptions } from '../../../src/connection/options.js';
import { thrown } from '../../helpers/thrown.js';

const dir = mkdtempSync(join(tmpdir(), 'warren-url-params-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

function recordingLogger() {
  const warnings: string[] = [];
  const logger = {
    debug() {},
    info() {},
    warn: (...args: unknown[]) =>
      warnings.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')),
    error() {},
  };
  return { logger, warnings };
}

describe('parseAmqpUrl: query parameters', () => {
  it('heartbeat=0 is kept as 0 (off), not dropped', () => {
    expect(parseAmqpUrl('amqp://h/?heartbeat=0').heartbeat).toBe(0);
    expect(resolveConnectOptions('amqp://h/?heartbeat=0').heartbeat).toBe(0);
  });

  it('accepts frame_max and frameMax, channel_max and channelMax, connection_timeout', () => {
    expect(parseAmqpUrl('amqp://h/?frame_max=16384&channel_max=7&connection_timeout=1500')).toMatchObject({
      frameMax: 16384,
      channelMax: 7,
      connectionTimeout: 1500,
    });
    expect(parseAmqpUrl('amqp://h/?frameMax=32768&channelMax=9')).toMatchObject({ frameMax: 32768, channelMax: 9 });
  });

  it('auth_mechanism=external selects SASL EXTERNAL; plain selects PLAIN', () => {
    expect(parseAmqpUrl('amqps://h/?auth_mechanism=external').mechanism).toBe('EXTERNAL');
    expect(parseAmqpUrl('amqps://h/?auth_mechanism=PLAIN').mechanism).toBe('PLAIN');
  });

  it('refuses an auth_mechanism warren does not speak, naming it', () => {
    const err = thrown(ConnectOptionsError, () => parseAmqpUrl('amqp://h/?auth_mechanism=amqplain'));
    expect(err.code).toBe('ERR_CONNECT_OPTIONS');
    expect(err.message).toContain('auth_mechanism');
    expect(err.message).toContain('amqplain');
  });

  it('TLS parameters become tls options: files read, verify and server_name_indication mapped', () => {
    const ca = file('ca.pem', 'CA-PEM');
    const cert = file('cert.pem', 'CERT-PEM');
    const key = file('key.pem', 'KEY-PEM');
    const o = parseAmqpUrl(
      `amqps://h/?cacertfile=${encodeURIComponent(ca)}&certfile=${encodeURIComponent(cert)}&keyfile=${encodeURIComponent(key)}&verify=verify_none&server_name_indication=mq.example`,
    );
    expect(o.tls).toBeTypeOf('object');
    const tls = o.tls as Record<string, unknown>;
    expect(String(tls.ca)).toBe('CA-PEM');
    expect(String(tls.cert)).toBe('CERT-PEM');
    expect(String(tls.key)).toBe('KEY-PEM');
    expect(tls.rejectUnauthorized).toBe(false);
    expect(tls.servername).toBe('mq.example');
    expect(parseAmqpUrl('amqps://h/?verify=verify_peer').tls).toMatchObject({ rejectUnauthorized: true });
  });

  it('a TLS file that cannot be read fails with the parameter and the path named', () => {
    const missing = join(dir, 'nope.pem');
    const err = thrown(ConnectOptionsError, () => parseAmqpUrl(`amqps://h/?cacertfile=${missing}`));
    expect(err.message).toContain('cacertfile');
    expect(err.message).toContain(missing);
  });

  it('refuses a bad verify value and bad numbers, naming the parameter', () => {
    expect(thrown(ConnectOptionsError, () => parseAmqpUrl('amqps://h/?verify=maybe')).message).toContain('verify');
    expect(thrown(ConnectOptionsError, () => parseAmqpUrl('amqp://h/?heartbeat=-1')).message).toContain('heartbeat');
  });
});

describe('resolveSettings: unknown URL parameters are warned about through the logger', () => {
  it('names each unknown parameter once, without its value', () => {
    const { logger, warnings } = recordingLogger();
    resolveSettings({ urls: ['amqp://u:p@h/?heartbet=5&token=SECRETVALUE&heartbeat=5'], logger }, {});
    expect(warnings).toHaveLength(2);
    expect(warnings.join('\n')).toContain('heartbet');
    expect(warnings.join('\n')).toContain('token');
    expect(warnings.join('\n')).not.toContain('SECRETVALUE');
  });

  it('warns about TLS parameters on an amqp: URL (they would be ignored)', () => {
    const { logger, warnings } = recordingLogger();
    resolveSettings({ urls: ['amqp://u:p@h/?verify=verify_none'], logger }, {});
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('verify');
    expect(warnings[0]).toContain('amqps');
  });

  it('says nothing about known parameters', () => {
    const { logger, warnings } = recordingLogger();
    resolveSettings(
      { urls: ['amqp://u:p@h/?heartbeat=0&frame_max=16384&channel_max=3&connection_timeout=9'], logger },
      {},
    );
    expect(warnings).toEqual([]);
  });

  it('refuses a bad value at construction (not at the first connect), naming the parameter', () => {
    expect(() => resolveSettings({ urls: ['amqp://u:p@h/?frame_max=abc'] }, {})).toThrow(/frame_max/);
  });
});
