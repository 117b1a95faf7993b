/** The explicit outcomes a handler can return or throw, and how a handler's decision is surfaced. */
import { describe, expect, it } from 'vitest';
import { withOutcomes } from '../../../src/client/consume/delivery.js';
import { ConsumerOptionsError } from '../../../src/client/consume/errors.js';
import { Outcome } from '../../../src/client/consume/handler-outcome.js';
import type { ConsumeMessage } from '../../../src/client/consume/message.js';
import { thrown } from '../../helpers/thrown.js';

describe('Outcome', () => {
  it('makes frozen outcomes carrying their reason and delay', () => {
    expect(Outcome.requeue('busy')).toMatchObject({ kind: 'requeue', reason: 'busy', delayMs: undefined });
    expect(Outcome.retryLater(1500.4, 'later')).toMatchObject({ kind: 'retry-later', reason: 'later', delayMs: 1500 });
    expect(Outcome.retryLater()).toMatchObject({ kind: 'retry-later', delayMs: undefined });
    expect(Outcome.deadLetter('bad')).toMatchObject({ kind: 'dead-letter', reason: 'bad' });
    expect(Outcome.drop('stale')).toMatchObject({ kind: 'drop', reason: 'stale' });
    expect(Object.isFrozen(Outcome.drop('x'))).toBe(true);
  });

  it('refuses a delay outside 0..2147483647 ms with ERR_INVALID_OPTIONS', () => {
    for (const d of [-1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) {
      expect(thrown(ConsumerOptionsError, () => Outcome.retryLater(d)).code).toBe('ERR_INVALID_OPTIONS');
    }
  });
});

describe('withOutcomes', () => {
  const msg = (decision?: Outcome) => ({ decision }) as unknown as ConsumeMessage;

  it('throws a returned outcome, or the one recorded on the message, so the failure path carries it out', async () => {
    const drop = Outcome.drop('x');
    // Synchronous handlers stay synchronous (no promise per message); async ones reject.
    expect(thrown(Outcome as never, () => withOutcomes(() => drop)(msg()))).toBe(drop);
    await expect(withOutcomes(async () => drop)(msg())).rejects.toBe(drop);
    const dead = Outcome.deadLetter('y');
    expect(thrown(Outcome as never, () => withOutcomes(() => undefined)(msg(dead)))).toBe(dead);
    expect(withOutcomes(() => 42)(msg())).toBeUndefined();
    await expect(withOutcomes(async () => 42)(msg())).resolves.toBeUndefined();
    const err = new Error('plain');
    expect(
      thrown(Error, () =>
        withOutcomes(() => {
          throw err;
        })(msg()),
      ),
    ).toBe(err);
  });
});
