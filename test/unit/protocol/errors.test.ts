/** errorFromClose: a 541 that names a deprecated feature is not worth reconnecting for. */
import { describe, expect, it } from 'vitest';
import {
  ConnectionError,
  DeprecatedFeatureError,
  deprecatedFeatureOf,
  errorFromClose,
  WarrenError,
} from '../../../src/protocol/errors.js';

// RabbitMQ 4.0's text, as it arrives (cut to 255 bytes by the shortstr).
const REFUSED =
  'INTERNAL_ERROR - Feature `transient_nonexcl_queues` is deprecated.\nIts use is not permitted per the configuration (overriding the default, which is permitted):\n    "deprecated_features.permit.transient_nonexcl_queues = false"\nIts use will not be permit';

describe('errorFromClose and deprecated features', () => {
  it('a connection.close 541 naming a deprecated feature: DeprecatedFeatureError, not recoverable', () => {
    const err = errorFromClose(
      'connection',
      { replyCode: 541, replyText: REFUSED, classId: 50, methodId: 10 },
      'queue.declare',
    );
    expect(err).toBeInstanceOf(DeprecatedFeatureError);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).toBeInstanceOf(WarrenError);
    const e = err as DeprecatedFeatureError;
    expect(e.feature).toBe('transient_nonexcl_queues');
    expect(e.code).toBe('ERR_DEPRECATED_FEATURE');
    expect(e.replyCode).toBe(541);
    expect(e.recoverable).toBe(false);
    expect(e.methodName).toBe('queue.declare');
    expect(e.message).toContain('transient_nonexcl_queues');
  });

  it('any other 541 stays a recoverable ConnectionError', () => {
    const err = errorFromClose(
      'connection',
      { replyCode: 541, replyText: 'INTERNAL_ERROR', classId: 0, methodId: 0 },
      undefined,
    );
    expect(err).not.toBeInstanceOf(DeprecatedFeatureError);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.code).toBe('INTERNAL_ERROR');
    expect(err.recoverable).toBe(true);
  });

  it('reads the feature name from the reply text', () => {
    expect(deprecatedFeatureOf(REFUSED)).toBe('transient_nonexcl_queues');
    expect(deprecatedFeatureOf('Feature `global_qos` is deprecated.')).toBe('global_qos');
    expect(deprecatedFeatureOf('NOT_FOUND - no queue')).toBeUndefined();
  });
});

describe('ConnectionError.seenBy: what a channel of a closed connection reports', () => {
  it('keeps the class and every field: a refused deprecated feature stays one, with its feature and 541', () => {
    const closed = errorFromClose(
      'connection',
      {
        replyCode: 541,
        replyText: 'INTERNAL_ERROR - Feature `transient_nonexcl_queues` is deprecated.',
        classId: 50,
        methodId: 10,
      },
      'queue.declare',
    );
    const seen = (closed as ConnectionError).seenBy('channel 1 closed because its connection closed');
    expect(seen).toBeInstanceOf(DeprecatedFeatureError);
    expect((seen as DeprecatedFeatureError).feature).toBe('transient_nonexcl_queues');
    expect(seen.replyCode).toBe(541);
    expect(seen.classId).toBe(50);
    expect(seen.methodName).toBe('queue.declare');
    expect(seen.recoverable).toBe(false);
    expect(seen.cause).toBe(closed);
  });
});
