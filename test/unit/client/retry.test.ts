import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  backoffDelay,
  connRetry,
  funcRetry,
  RetryAbortedError,
  RetryExhaustedError,
  type RetryOptions,
} from '../../../src/client/retry.js';
import type { Logger } from '../../../src/client/settings.js';
import { WarrenError } from '../../../src/protocol/errors.js';

/** Settles a promise into a value so that a rejection is never unhandled while fake time advances. */
function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

function mockLogger() {
  return { trace: vi.fn(), debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() } satisfies Logger;
}

/** A function failing `failures` times with `Error('boom <attempt>')`, then returning `'ok'`. */
function flaky(failures: number) {
  return vi.fn(async (attempt: number) => {
    if (attempt <= failures) throw new Error(`boom ${attempt}`);
    return 'ok';
  });
}

describe('backoffDelay', () => {
  it('doubles from 200 ms and caps at 30 s by default', () => {
    const delays = Array.from({ length: 10 }, (_, i) => backoffDelay(i + 1, { jitter: false }));
    expect(delays).toEqual([200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]);
    expect(backoffDelay(100_000, { jitter: false })).toBe(30000);
  });

  it('follows baseDelayMs, factor and maxDelayMs', () => {
    const opts = { baseDelayMs: 100, factor: 3, maxDelayMs: 1000, jitter: false } as const;
    expect([1, 2, 3, 4].map((a) => backoffDelay(a, opts))).toEqual([100, 300, 900, 1000]);
  });

  it('clamps the cap to what setTimeout can wait', () => {
    expect(backoffDelay(200, { jitter: false, maxDelayMs: Number.POSITIVE_INFINITY })).toBe(2 ** 31 - 1);
  });

  it('jitters into [delay/2, delay] by default', () => {
    expect(backoffDelay(3, { random: () => 0 })).toBe(400);
    expect(backoffDelay(3, { random: () => 0.5 })).toBe(600);
    expect(backoffDelay(3, { random: () => 0.999999 })).toBe(800);
    expect(backoffDelay(3, { jitter: true, random: () => 0 })).toBe(400);
  });

  it('jitters into [delay*(1-j), delay] for a fraction j', () => {
    expect(backoffDelay(3, { jitter: 0.25, random: () => 0 })).toBe(600);
    expect(backoffDelay(3, { jitter: 0.25, random: () => 0.999999 })).toBe(800);
    expect(backoffDelay(3, { jitter: 0, random: () => 0 })).toBe(800);
  });

  it('stays within bounds for any random value', () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return (seed - 1) / 2147483646;
    };
    for (let attempt = 1; attempt <= 12; attempt++) {
      const full = backoffDelay(attempt, { jitter: false });
      for (let i = 0; i < 50; i++) {
        const d = backoffDelay(attempt, { random });
        expect(d).toBeGreaterThanOrEqual(full / 2);
        expect(d).toBeLessThanOrEqual(full);
      }
    }
  });
});

describe('funcRetry', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('returns the first success without waiting', async () => {
    const fn = vi.fn(() => 42);
    await expect(funcRetry(fn)).resolves.toBe(42);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(fn).toHaveBeenCalledWith(1, undefined);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('retries with growing delays, logging each retry', async () => {
    const logger = mockLogger();
    const onRetry = vi.fn();
    const fn = flaky(2);
    const result = settle(funcRetry(fn, { name: 'fetch', jitter: false, logger, onRetry }));

    await vi.advanceTimersByTimeAsync(199);
    expect(fn).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(fn).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(399);
    expect(fn).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(1);

    expect(await result).toEqual({ ok: true, value: 'ok' });
    expect(fn.mock.calls.map((c) => c[0])).toEqual([1, 2, 3]);
    expect(onRetry.mock.calls.map((c) => c[0].delayMs)).toEqual([200, 400]);
    expect(onRetry.mock.calls[0]?.[0]).toMatchObject({ attempt: 1, attempts: 5, delayMs: 200 });
    expect(logger.warn).toHaveBeenCalledTimes(2);
    expect(logger.warn.mock.calls[1]).toEqual([
      { name: 'fetch', attempt: 2, attempts: 5, delayMs: 400, err: expect.objectContaining({ message: 'boom 2' }) },
      'fetch: attempt 2/5 failed: boom 2; retrying in 400 ms',
    ]);
    expect(logger.error).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('uses the injected random for jitter', async () => {
    const onRetry = vi.fn();
    const result = settle(funcRetry(flaky(2), { random: () => 0, onRetry }));
    await vi.runAllTimersAsync();
    expect((await result).ok).toBe(true);
    expect(onRetry.mock.calls.map((c) => c[0].delayMs)).toEqual([100, 200]);
  });

  it('throws RetryExhaustedError with every error once attempts run out', async () => {
    const logger = mockLogger();
    const fn = flaky(Number.POSITIVE_INFINITY);
    const result = settle(funcRetry(fn, { name: 'publish', attempts: 3, jitter: false, logger }));
    await vi.runAllTimersAsync();
    const outcome = await result;

    expect(outcome.ok).toBe(false);
    const err = (outcome as { error: unknown }).error as RetryExhaustedError;
    expect(err).toBeInstanceOf(RetryExhaustedError);
    expect(err).toBeInstanceOf(WarrenError);
    expect(err.code).toBe('ERR_RETRY_EXHAUSTED');
    expect(err.message).toBe('publish: gave up after 3 attempts: boom 3');
    expect(err.attempts).toBe(3);
    expect(err.errors).toHaveLength(3);
    expect(err.errors.map((e) => (e as Error).message)).toEqual(['boom 1', 'boom 2', 'boom 3']);
    expect(err.cause).toBe(err.errors[2]);
    expect(fn).toHaveBeenCalledTimes(3);
    expect(logger.warn).toHaveBeenCalledTimes(2);
    expect(logger.error).toHaveBeenCalledTimes(1);
    expect(logger.error.mock.calls[0]?.[1]).toBe('publish: gave up after 3 attempts: boom 3');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('makes a single attempt when attempts is 1', async () => {
    const fn = flaky(1);
    const outcome = await settle(funcRetry(fn, { attempts: 1, name: 'once' }));
    expect((outcome as { error: Error }).error.message).toBe('once: gave up after 1 attempt: boom 1');
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('rethrows the error itself when shouldRetry returns false', async () => {
    const original = new Error('fatal');
    const fn = vi.fn(async () => {
      throw original;
    });
    const shouldRetry = vi.fn(() => false);
    const outcome = await settle(funcRetry(fn, { shouldRetry }));
    expect(outcome).toEqual({ ok: false, error: original });
    expect((outcome as { error: unknown }).error).toBe(original);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(shouldRetry).toHaveBeenCalledWith(original, 1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not retry non-recoverable WarrenErrors by default, but retries recoverable ones', async () => {
    const fatal = new WarrenError('bad credentials', { code: 'ACCESS_REFUSED', recoverable: false });
    const fatalFn = vi.fn(async () => {
      throw fatal;
    });
    expect(await settle(funcRetry(fatalFn))).toEqual({ ok: false, error: fatal });
    expect(fatalFn).toHaveBeenCalledTimes(1);

    const transient = vi.fn(async (attempt: number) => {
      if (attempt === 1) throw new WarrenError('forced', { recoverable: true });
      return 'back';
    });
    const result = settle(funcRetry(transient));
    await vi.runAllTimersAsync();
    expect(await result).toEqual({ ok: true, value: 'back' });
  });

  it('stops promptly when the signal aborts during the wait, leaving no timer', async () => {
    const controller = new AbortController();
    const fn = flaky(Number.POSITIVE_INFINITY);
    const result = settle(funcRetry(fn, { signal: controller.signal, baseDelayMs: 10_000, jitter: false }));
    await vi.advanceTimersByTimeAsync(0);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(1);

    const reason = new Error('shutting down');
    controller.abort(reason);
    const outcome = await result;

    expect(vi.getTimerCount()).toBe(0);
    const err = (outcome as { error: unknown }).error as RetryAbortedError;
    expect(err).toBeInstanceOf(RetryAbortedError);
    expect(err.code).toBe('ERR_RETRY_ABORTED');
    expect(err.cause).toBe(reason);
    expect(err.errors).toHaveLength(1);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('does not call fn when the signal is already aborted, and passes the signal to fn', async () => {
    const controller = new AbortController();
    const fn = vi.fn((_attempt: number, signal?: AbortSignal) => signal);
    await expect(funcRetry(fn, { signal: controller.signal })).resolves.toBe(controller.signal);

    controller.abort('gone');
    const outcome = await settle(funcRetry(fn, { signal: controller.signal }));
    expect((outcome as { error: unknown }).error).toBeInstanceOf(RetryAbortedError);
    expect(((outcome as { error: Error }).error as Error).cause).toBe('gone');
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('stops after an attempt that fails once the signal is aborted, without waiting', async () => {
    const controller = new AbortController();
    const fn = vi.fn(async () => {
      controller.abort();
      throw new Error('failed while aborting');
    });
    const outcome = await settle(funcRetry(fn, { signal: controller.signal }));
    expect((outcome as { error: unknown }).error).toBeInstanceOf(RetryAbortedError);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('never logs or throws a password contained in an error message', async () => {
    const secret = 'Pa55-w0rd-xyz';
    const logger = mockLogger();
    const fn = vi.fn(async () => {
      throw new Error(`cannot connect to amqp://app:${secret}@mq:5672/prod`);
    });
    const result = settle(funcRetry(fn, { name: 'connect', attempts: 2, logger, jitter: false }));
    await vi.runAllTimersAsync();
    const err = ((await result) as { error: RetryExhaustedError }).error;

    expect(err.message).toBe('connect: gave up after 2 attempts: cannot connect to amqp://app:***@mq:5672/prod');
    expect(err.message).not.toContain(secret);
    const messages = [...logger.warn.mock.calls, ...logger.error.mock.calls].map((c) => c[1] as string);
    expect(messages).toHaveLength(2);
    for (const m of messages) expect(m).not.toContain(secret);
    expect(messages[0]).toBe(
      'connect: attempt 1/2 failed: cannot connect to amqp://app:***@mq:5672/prod; retrying in 200 ms',
    );
  });

  it('retries without limit when attempts is Infinity', async () => {
    const logger = mockLogger();
    const fn = flaky(20);
    // An inline arrow has no name, so the default name applies.
    const result = settle(funcRetry((a) => fn(a), { attempts: Number.POSITIVE_INFINITY, maxDelayMs: 50, logger }));
    await vi.runAllTimersAsync();
    expect(await result).toEqual({ ok: true, value: 'ok' });
    expect(fn).toHaveBeenCalledTimes(21);
    expect(logger.warn.mock.calls[0]?.[1]).toMatch(/^operation: attempt 1\/∞ failed: boom 1; retrying in \d+ ms$/);
  });

  it('names the operation after the function when no name is given', async () => {
    async function openChannel(): Promise<never> {
      throw new Error('nope');
    }
    const outcome = await settle(funcRetry(openChannel, { attempts: 1 }));
    expect((outcome as { error: Error }).error.message).toBe('openChannel: gave up after 1 attempt: nope');
  });

  it('rejects invalid options', async () => {
    const bad: RetryOptions[] = [
      { attempts: 0 },
      { attempts: 1.5 },
      { baseDelayMs: -1 },
      { factor: 0.5 },
      { jitter: 2 },
    ];
    for (const opts of bad) {
      const outcome = await settle(funcRetry(() => 1, opts));
      expect((outcome as { error: WarrenError }).error.code).toBe('ERR_INVALID_ARGUMENT');
    }
  });
});

describe('connRetry', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('defaults to 10 attempts starting at 500 ms, capped at 30 s, named "connect"', async () => {
    const onRetry = vi.fn();
    const fn = flaky(Number.POSITIVE_INFINITY);
    const result = settle(connRetry(fn, { jitter: false, onRetry }));
    await vi.runAllTimersAsync();
    const err = ((await result) as { error: RetryExhaustedError }).error;
    expect(fn).toHaveBeenCalledTimes(10);
    expect(onRetry.mock.calls.map((c) => c[0].delayMs)).toEqual([
      500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000,
    ]);
    expect(err.message).toBe('connect: gave up after 10 attempts: boom 10');
    expect(err.errors).toHaveLength(10);
  });

  it('lets explicit options win over its defaults', async () => {
    const fn = flaky(Number.POSITIVE_INFINITY);
    const result = settle(connRetry(fn, { attempts: 2, name: 'dial' }));
    await vi.runAllTimersAsync();
    expect(((await result) as { error: Error }).error.message).toBe('dial: gave up after 2 attempts: boom 2');
  });
});

describe('funcRetry with real timers', () => {
  it('waits with a real timer and succeeds', async () => {
    const fn = flaky(2);
    const started = Date.now();
    await expect(funcRetry(fn, { baseDelayMs: 5, jitter: false })).resolves.toBe('ok');
    expect(Date.now() - started).toBeGreaterThanOrEqual(10);
    expect(fn).toHaveBeenCalledTimes(3);
  });

  it('aborts a real wait promptly', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const p = funcRetry(flaky(Number.POSITIVE_INFINITY), { signal: controller.signal, baseDelayMs: 60_000 });
    setTimeout(() => controller.abort(), 10);
    await expect(p).rejects.toBeInstanceOf(RetryAbortedError);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
