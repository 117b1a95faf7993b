import { describe, expect, it } from 'vitest';
import {
  redactText,
  redactUrl,
  resolveSettings,
  SettingsError,
  silentLogger,
  withVhost,
} from '../../../src/client/settings.js';
import { WarrenError } from '../../../src/protocol/errors.js';
import { thrown } from '../../helpers/thrown.js';

const SECRET = 'hunter2-S3cr3t';

describe('resolveSettings: defaults', () => {
  it('connects to guest@localhost:5672 with the documented defaults when nothing is set', () => {
    const s = resolveSettings({}, {});
    expect(s).toEqual({
      urls: ['amqp://guest:guest@localhost:5672'],
      vhost: '/',
      heartbeat: 300,
      connectionTimeout: 10_000,
      blockedConnectionTimeout: 300_000,
      logger: silentLogger,
    });
    expect('tls' in s).toBe(false);
    expect('connectionName' in s).toBe(false);
  });

  it('keeps explicit options', () => {
    const logger = { debug() {}, info() {}, warn() {}, error() {} };
    const tls = { rejectUnauthorized: false };
    const s = resolveSettings(
      {
        urls: 'amqps://u:p@mq.example:5671/prod',
        heartbeat: 0,
        connectionTimeout: 1,
        blockedConnectionTimeout: 0,
        tls,
        connectionName: 'worker',
        logger,
      },
      {},
    );
    expect(s).toEqual({
      urls: ['amqps://u:p@mq.example:5671/prod'],
      vhost: 'prod',
      heartbeat: 0,
      connectionTimeout: 1,
      blockedConnectionTimeout: 0,
      tls,
      connectionName: 'worker',
      logger,
    });
  });

  it('silentLogger accepts calls and does nothing', () => {
    expect(() => silentLogger.warn({ a: 1 }, 'msg')).not.toThrow();
    expect(silentLogger.trace).toBeTypeOf('function');
  });
});

describe('resolveSettings: precedence', () => {
  const env = {
    RABBITMQ_URLS: ' amqp://a:5672/x , ,amqp://b:5672/x,',
    RABBITMQ_URL: 'amqp://single:5672/x',
    RABBITMQ_HOST: 'built',
  };

  it('prefers options.urls over the environment', () => {
    expect(resolveSettings({ urls: ['amqp://opt:1/x'] }, env).urls).toEqual(['amqp://opt:1/x']);
  });

  it('then RABBITMQ_URLS, split on commas, trimmed, empties dropped', () => {
    expect(resolveSettings({}, env).urls).toEqual(['amqp://a:5672/x', 'amqp://b:5672/x']);
  });

  it('then RABBITMQ_URL', () => {
    expect(resolveSettings({}, { ...env, RABBITMQ_URLS: undefined }).urls).toEqual(['amqp://single:5672/x']);
  });

  it('treats empty variables as unset', () => {
    expect(resolveSettings({}, { RABBITMQ_URLS: '', RABBITMQ_URL: ' ', RABBITMQ_HOST: 'h' }).urls).toEqual([
      'amqp://guest:guest@h:5672',
    ]);
  });

  it('then builds a URL from host, port and credentials, percent-encoding the credentials', () => {
    const s = resolveSettings(
      {},
      {
        RABBITMQ_HOST: 'mq',
        RABBITMQ_PORT: '5673',
        RABBITMQ_DEFAULT_USER: 'us@r',
        RABBITMQ_DEFAULT_PASS: 'p@ss/w:rd%',
      },
    );
    expect(s.urls).toEqual(['amqp://us%40r:p%40ss%2Fw%3Ard%25@mq:5673']);
    const url = new URL(s.urls[0]!);
    expect(decodeURIComponent(url.password)).toBe('p@ss/w:rd%');
    expect(decodeURIComponent(url.username)).toBe('us@r');
  });

  it('brackets a bare IPv6 host', () => {
    expect(resolveSettings({}, { RABBITMQ_HOST: '::1' }).urls).toEqual(['amqp://guest:guest@[::1]:5672']);
  });

  it('rejects an invalid RABBITMQ_PORT, naming the variable', () => {
    for (const port of ['abc', '0', '65536', '56.7', '-1']) {
      const err = thrown(SettingsError, () => resolveSettings({}, { RABBITMQ_PORT: port }));
      expect(err.message).toBe(`RABBITMQ_PORT must be an integer from 1 to 65535, got ${JSON.stringify(port)}`);
    }
    expect(resolveSettings({}, { RABBITMQ_PORT: '65535' }).urls).toEqual(['amqp://guest:guest@localhost:65535']);
  });
});

describe('resolveSettings: vhost', () => {
  it('reads the vhost from the URL path, percent-decoded; an empty path or bare slash is "/"', () => {
    expect(resolveSettings({ urls: 'amqp://h/%2F' }, {}).vhost).toBe('/');
    expect(resolveSettings({ urls: 'amqp://h/my%20vhost' }, {}).vhost).toBe('my vhost');
    expect(resolveSettings({ urls: 'amqp://h' }, {}).vhost).toBe('/');
    expect(resolveSettings({ urls: 'amqp://h/' }, {}).vhost).toBe('/');
  });

  it('RABBITMQ_VHOST overrides the URL path of every URL', () => {
    const s = resolveSettings({}, { RABBITMQ_URLS: 'amqp://a/one,amqp://b:5672/two?heartbeat=5', RABBITMQ_VHOST: '/' });
    expect(s.vhost).toBe('/');
    expect(s.urls).toEqual(['amqp://a/%2F', 'amqp://b:5672/%2F?heartbeat=5']);
  });

  it('options.vhost wins over RABBITMQ_VHOST and the URL', () => {
    const s = resolveSettings({ urls: 'amqp://a/one', vhost: 'a/b' }, { RABBITMQ_VHOST: 'env' });
    expect(s.vhost).toBe('a/b');
    expect(s.urls).toEqual(['amqp://a/a%2Fb']);
  });

  it('applies RABBITMQ_VHOST to the URL built from the environment', () => {
    const s = resolveSettings({}, { RABBITMQ_VHOST: 'app' });
    expect(s.urls).toEqual(['amqp://guest:guest@localhost:5672/app']);
    expect(s.vhost).toBe('app');
  });

  it('rejects URLs naming different vhosts unless one is chosen explicitly', () => {
    const err = thrown(SettingsError, () => resolveSettings({ urls: ['amqp://u:pw1@a/x', 'amqp://b/y'] }, {}));
    expect(err.message).toBe(
      'urls name different vhosts ("x" in amqp://u:***@a/x, "y" in amqp://b/y); set the vhost option to choose one',
    );
    expect(resolveSettings({ urls: ['amqp://a/x', 'amqp://b/y'], vhost: 'z' }, {}).urls).toEqual([
      'amqp://a/z',
      'amqp://b/z',
    ]);
  });

  it('rejects an empty or oversized vhost', () => {
    expect(thrown(SettingsError, () => resolveSettings({ vhost: '' }, {})).message).toBe(
      'vhost must be a non-empty string',
    );
    expect(thrown(SettingsError, () => resolveSettings({ vhost: 'v'.repeat(256) }, {})).message).toBe(
      'vhost must be at most 255 bytes (UTF-8)',
    );
  });
});

describe('resolveSettings: validation', () => {
  it('rejects non-AMQP URLs, naming the URL with the password masked', () => {
    const err = thrown(SettingsError, () => resolveSettings({ urls: [`http://app:${SECRET}@mq:5672/`] }, {}));
    expect(err.message).toBe('invalid broker url http://app:***@mq:5672/: the protocol must be amqp: or amqps:');
    expect(err.message).not.toContain(SECRET);
    expect(err.code).toBe('ERR_SETTINGS_INVALID');
    expect(err.recoverable).toBe(false);
    expect(err).toBeInstanceOf(WarrenError);
  });

  it('rejects unparsable URLs without leaking the password', () => {
    const err = thrown(SettingsError, () => resolveSettings({}, { RABBITMQ_URL: `amqp://app:${SECRET}/x@mq` }));
    expect(err.message).toBe(
      'invalid broker url amqp://***@mq: not a URL (a password containing /, ? or # must be percent-encoded)',
    );
    expect(err.message).not.toContain(SECRET);
    expect(thrown(SettingsError, () => resolveSettings({ urls: 'not a url' }, {})).message).toBe(
      'invalid broker url not a url: not a URL',
    );
  });

  it('rejects an empty URL list', () => {
    expect(thrown(SettingsError, () => resolveSettings({ urls: [] }, {})).message).toBe('urls must not be empty');
    expect(thrown(SettingsError, () => resolveSettings({}, { RABBITMQ_URLS: ' , ' })).message).toBe(
      'RABBITMQ_URLS contains no URL',
    );
  });

  it('checks timeouts and heartbeat', () => {
    expect(thrown(SettingsError, () => resolveSettings({ heartbeat: 1.5 }, {})).message).toBe(
      'heartbeat must be an integer from 0 to 65535, got 1.5',
    );
    expect(thrown(SettingsError, () => resolveSettings({ heartbeat: 70_000 }, {})).message).toBe(
      'heartbeat must be an integer from 0 to 65535, got 70000',
    );
    expect(thrown(SettingsError, () => resolveSettings({ connectionTimeout: 0 }, {})).message).toBe(
      'connectionTimeout must be a number from 1 to 2147483647, got 0',
    );
    expect(thrown(SettingsError, () => resolveSettings({ blockedConnectionTimeout: Number.NaN }, {})).message).toBe(
      'blockedConnectionTimeout must be a number from 0 to 2147483647, got NaN',
    );
  });
});

describe('withVhost', () => {
  it('percent-encodes the vhost into the path, replacing any existing one', () => {
    expect(withVhost('amqp://guest:guest@localhost:5672/old', '/')).toBe('amqp://guest:guest@localhost:5672/%2F');
    expect(withVhost('amqp://h', 'dev team/1')).toBe('amqp://h/dev%20team%2F1');
    expect(withVhost('amqps://h:5671/x?frame_max=8192', 'y')).toBe('amqps://h:5671/y?frame_max=8192');
  });
});

describe('redactUrl', () => {
  it('replaces the password with ***', () => {
    expect(redactUrl(`amqp://app:${SECRET}@mq:5672/prod`)).toBe('amqp://app:***@mq:5672/prod');
  });

  it('hides a password containing @ up to the host', () => {
    expect(redactUrl('amqp://app:p@ss@mq/v')).toBe('amqp://app:***@mq/v');
  });

  it('leaves URLs without a password unchanged', () => {
    expect(redactUrl('amqp://mq:5672/v')).toBe('amqp://mq:5672/v');
    expect(redactUrl('amqp://app@mq/v')).toBe('amqp://app@mq/v');
  });

  it('hides everything before the host when the URL cannot be split safely', () => {
    expect(redactUrl(`amqp://app:${SECRET}/oops@mq`)).toBe('amqp://***@mq');
  });
});

describe('redactText', () => {
  it('masks passwords of URLs embedded in free text', () => {
    const text = `connect amqp://app:${SECRET}@mq:5672/x failed; fallback amqps://u:pw2@other failed too`;
    const out = redactText(text);
    expect(out).toBe('connect amqp://app:***@mq:5672/x failed; fallback amqps://u:***@other failed too');
    expect(out).not.toContain(SECRET);
    expect(out).not.toContain('pw2');
  });
});
