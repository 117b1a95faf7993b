/**
 * The library's one URL parser and redactor, over URLs that trip naive ones: a password with an unencoded
 * `/`, other schemes, percent-encoding, IPv6 hosts, empty passwords, no credentials. The secret must be
 * absent from every redaction and every error message, from the engine's options and from the client's
 * settings alike, and from util.inspect / JSON of the resolved settings.
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  redactText as clientRedactText,
  redactUrl as clientRedactUrl,
  resolveSettings,
  SettingsError,
} from '../../../src/client/settings.js';
import {
  ConnectOptionsError,
  parseAmqpUrl,
  redactAmqpUrl,
  resolveConnectOptions,
} from '../../../src/connection/options.js';
import { parseUrl, redactText, redactUrl } from '../../../src/connection/url.js';

const S = 's3cr3t';

/** Each URL holds the secret `S` (raw or percent-encoded); `redacted` is what redactUrl must give. */
const TRICKY: { url: string; redacted: string; valid: boolean }[] = [
  { url: `amqp://u:${S}/x@h/`, redacted: 'amqp://***@h/', valid: false },
  { url: `amqp://u:${S}?x@h/`, redacted: 'amqp://***@h/', valid: false },
  { url: `amqp://u:${S}#x@h/`, redacted: 'amqp://***@h/', valid: false },
  { url: `http://u:${S}@h/`, redacted: 'http://u:***@h/', valid: false },
  { url: `amqp://u:${S}@h:99999/`, redacted: 'amqp://u:***@h:99999/', valid: false },
  { url: `amqp://u:${S}@h/%zz`, redacted: 'amqp://u:***@h/%zz', valid: false },
  { url: `amqp://u:${S}%zz@h/`, redacted: 'amqp://u:***@h/', valid: false },
  { url: `amqp://u:p%2F${S}%40x@h/`, redacted: 'amqp://u:***@h/', valid: true },
  { url: `amqps://u:${S}@h:1/v?heartbeat=5`, redacted: 'amqps://u:***@h:1/v?heartbeat=5', valid: true },
  { url: `amqp://u:${S}@[::1]:5673/v`, redacted: 'amqp://u:***@[::1]:5673/v', valid: true },
  { url: `amqp://u:${S}@ss@h/v`, redacted: 'amqp://u:***@h/v', valid: true },
  { url: `AMQP://u:${S}@h/`, redacted: 'AMQP://u:***@h/', valid: true },
];

describe('redactUrl', () => {
  it.each(TRICKY)('$url → $redacted', ({ url, redacted }) => {
    expect(redactUrl(url)).toBe(redacted);
    expect(redactUrl(url)).not.toContain(S);
    // The old names are the same function.
    expect(clientRedactUrl(url)).toBe(redacted);
    expect(redactAmqpUrl(url)).toBe(redacted);
  });

  it('leaves URLs without a password as they are', () => {
    for (const url of ['amqp://h/', 'amqp://u@h/v', 'amqp://u:@h/', 'amqps://[::1]:5671/', 'not a url', '']) {
      expect(redactUrl(url)).toBe(url === 'amqp://u:@h/' ? 'amqp://u:***@h/' : url);
    }
  });

  it('redactText masks every URL in free text, whatever its scheme', () => {
    const text = `failed amqp://u:${S}/x@h/ then "http://a:${S}@b/" and amqps://c:${S}@[::1]:1/v.`;
    const out = redactText(text);
    expect(out).not.toContain(S);
    expect(out).toBe('failed amqp://***@h/ then "http://a:***@b/" and amqps://c:***@[::1]:1/v.');
    expect(clientRedactText(text)).toBe(out);
  });
});

describe('parseUrl', () => {
  const fail = (m: string) => new Error(m);

  it('reads every part, percent-decoded', () => {
    const u = parseUrl(`amqps://us%40er:p%2F${S}%40x@h:1/v%2Fw?heartbeat=5`, fail);
    expect({ ...u, params: u.params.get('heartbeat') }).toEqual({
      tls: true,
      hostname: 'h',
      port: 1,
      username: 'us@er',
      password: `p/${S}@x`,
      vhost: 'v/w',
      params: '5',
    });
  });

  it('IPv6 hosts lose their brackets; an empty password is empty, not absent; no credentials are undefined', () => {
    expect(parseUrl('amqp://u:p@[::1]:5673/', fail)).toMatchObject({ hostname: '::1', port: 5673, vhost: '/' });
    expect(parseUrl('amqp://u:@h', fail)).toMatchObject({ username: 'u', password: '' });
    expect(parseUrl('amqp://u@h', fail)).toMatchObject({ username: 'u', password: undefined });
    expect(parseUrl('amqp://h', fail)).toMatchObject({ username: undefined, password: undefined, port: undefined });
  });
});

describe('errors never contain the secret', () => {
  const invalid = TRICKY.filter((t) => !t.valid);

  it.each(invalid)('engine options: $url', ({ url }) => {
    let err: unknown;
    try {
      resolveConnectOptions(url);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConnectOptionsError);
    const e = err as ConnectOptionsError;
    expect(e.code).toBe('ERR_CONNECT_OPTIONS');
    expect(e.message).not.toContain(S);
    expect(inspect(e, { depth: 10, showHidden: true })).not.toContain(S);
    expect(JSON.stringify(e)).not.toContain(S);
  });

  it.each(invalid)('client settings: $url', ({ url }) => {
    let err: unknown;
    try {
      resolveSettings({ urls: [url] }, {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SettingsError);
    expect((err as SettingsError).message).not.toContain(S);
    expect(inspect(err, { depth: 10, showHidden: true })).not.toContain(S);
  });

  it('a password with an unencoded / gets a hint, not an echo', () => {
    expect(() => parseAmqpUrl(`amqp://u:${S}/x@h/`)).toThrow(/percent-encoded/);
  });
});

describe('resolved settings are safe to print', () => {
  it('util.inspect and JSON.stringify of ResolvedSettings hide the password (and TLS secrets); urls still work', () => {
    const settings = resolveSettings(
      {
        urls: [`amqp://u:${S}@h/`, `amqps://u:p%2F${S}@h2:5671/`],
        tls: { passphrase: S, key: `-----BEGIN ${S}-----`, rejectUnauthorized: false },
      },
      {},
    );
    const printed = inspect(settings, { depth: 10, showHidden: true });
    expect(printed).not.toContain(S);
    expect(printed).toContain('amqp://u:***@h/');
    expect(printed).toContain('rejectUnauthorized');
    expect(JSON.stringify(settings)).not.toContain(S);
    expect(`${JSON.stringify({ settings })}`).not.toContain(S);
    // The real URLs are still there for connecting.
    expect(settings.urls[0]).toBe(`amqp://u:${S}@h/`);
    expect(settings.tls?.passphrase).toBe(S);
  });

  it('so are the engine options of a URL (engine: the password in ResolvedConnectOptions)', () => {
    const o = resolveConnectOptions(`amqp://u:${S}@h/`);
    expect(o.password).toBe(S);
    expect(inspect(o, { depth: 10, showHidden: true })).not.toContain(S);
    expect(JSON.stringify(o)).not.toContain(S);
  });
});
