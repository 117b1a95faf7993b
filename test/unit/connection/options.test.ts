import { describe, expect, it } from 'vitest';
import { ConnectOptionsError, DEFAULTS, resolveConnectOptions } from '../../../src/connection/options.js';
import { thrown } from '../../helpers/thrown.js';

describe('resolveConnectOptions', () => {
  it('fills in the defaults, ackDelay included', () => {
    const o = resolveConnectOptions({});
    expect(o.ackDelay).toBe(DEFAULTS.ackDelay);
    expect(o.frameMax).toBe(DEFAULTS.frameMax);
    expect(o.heartbeat).toBe(DEFAULTS.heartbeat);
  });

  it('takes ackDelay 0 (acks with the current tick) up to 1000 ms', () => {
    expect(resolveConnectOptions({ ackDelay: 0 }).ackDelay).toBe(0);
    expect(resolveConnectOptions({ ackDelay: 1000 }).ackDelay).toBe(1000);
  });

  it.each([-1, 1001, 2.5, Number.NaN])('refuses ackDelay %s, naming the option and its range', (ackDelay) => {
    const err = thrown(ConnectOptionsError, () => resolveConnectOptions({ ackDelay }));
    expect(err.code).toBe('ERR_CONNECT_OPTIONS');
    expect(err.message).toContain('ackDelay must be an integer 0..1000');
  });

  it('refuses a frameMax below the 8192 that RabbitMQ 4.1 requires', () => {
    expect(thrown(ConnectOptionsError, () => resolveConnectOptions({ frameMax: 4096 })).message).toContain('frameMax');
  });
});
