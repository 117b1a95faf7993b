/**
 * The engine options AsyncRabbitMQ takes (mechanism, channelMax, credentials) are checked when the client is
 * made, naming the option, not first discovered as a connect() failure.
 */
import { describe, expect, it } from 'vitest';
import { AsyncRabbitMQ, type AsyncRabbitMQOptions } from '../../../src/client/async-rabbitmq.js';
import { SettingsError } from '../../../src/client/settings.js';
import { thrown } from '../../helpers/thrown.js';

describe('AsyncRabbitMQ options', () => {
  it.each([
    [{ mechanism: 'AMQPLAIN' }, 'mechanism'],
    [{ channelMax: 0 }, 'channelMax'],
    [{ channelMax: 70_000 }, 'channelMax'],
    [{ credentials: 'guest:guest' }, 'credentials'],
  ])('refuses %j, naming %s', (options, name) => {
    const err = thrown(SettingsError, () => new AsyncRabbitMQ({}, options as unknown as AsyncRabbitMQOptions));
    expect(err.code).toBe('ERR_SETTINGS_INVALID');
    expect(err.message).toContain(name);
  });

  it('accepts EXTERNAL, a channelMax in range and a provider function', () => {
    const mq = new AsyncRabbitMQ(
      {},
      { mechanism: 'EXTERNAL', channelMax: 16, credentials: () => ({ username: 'u', password: 'p' }) },
    );
    expect(mq.state).toBe('idle');
  });
});
