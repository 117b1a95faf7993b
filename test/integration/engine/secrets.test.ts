/**
 * A password never shows: not in util.inspect of a live Connection or Channel (at any depth, hidden fields
 * included), not in JSON.stringify, not in the error of a refused login. Runs against the real broker with
 * a throwaway user whose password is a marker that cannot appear by chance.
 */
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../../src/connection/connect.js';
import { brokerUrl, rabbitmqctl, uniqueName } from '../../helpers/broker.js';
import { brokerOptions, engineSuite } from './engine-helpers.js';

const suite = engineSuite();
const user = uniqueName('secret-user');
const password = `pw-${randomBytes(8).toString('hex')}`;

beforeAll(async () => {
  await rabbitmqctl('add_user', user, password);
  await rabbitmqctl('set_permissions', '-p', '/', user, '.*', '.*', '.*');
});
afterAll(async () => {
  await rabbitmqctl('delete_user', user);
});

/** `url` (the broker under test) logging in as `username`. */
function withCredentials(url: string, username: string, secret: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(username);
  u.password = secret;
  return u.toString();
}

/** Everything a careless log line could print about `value` (util.inspect first, then JSON and String). */
function printed(value: unknown): Array<() => string> {
  return [
    () => inspect(value, { depth: 10, showHidden: true }),
    () => inspect(value, { depth: Number.POSITIVE_INFINITY }),
    () => JSON.stringify(value) ?? '',
    () => String(value),
  ];
}

describe('credentials in output', () => {
  it.each([
    { how: 'a URL', target: () => withCredentials(brokerUrl(), user, password) },
    { how: 'options', target: () => brokerOptions({ username: user, password }) },
  ])(
    'util.inspect / JSON of a Connection and Channel opened with $how never contain the password',
    async ({ target }) => {
      const conn = await suite.open(target());
      const ch = await conn.createChannel();
      await ch.confirmSelect();
      const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
      await ch.basicConsume({ queue }, () => {});
      for (const value of [conn, ch, { conn, ch }]) {
        for (const print of printed(value)) {
          const out = print();
          expect(out).not.toContain(password);
          expect(out).not.toContain(Buffer.from(password).toString('hex'));
        }
      }
      // Still informative.
      expect(inspect(conn)).toContain(user);
      expect(inspect(conn)).toContain("state: 'open'");
      expect(inspect(ch)).toContain('confirmMode: true');
    },
  );

  it('a refused login names the user, not the password, in its message, inspect and JSON', async () => {
    const wrong = `${password}-wrong`;
    let err: unknown;
    try {
      await connect(brokerOptions({ username: user, password: wrong }));
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ACCESS_REFUSED' });
    for (const print of printed(err)) expect(print()).not.toContain(password); // `wrong` contains it
  });
});
