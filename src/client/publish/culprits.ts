import { ChannelError } from '../../protocol/errors.js';
import type { OutgoingMessage } from './entry.js';

/**
 * Whether a channel close blames what was published on it: a close the broker sent (it has a reply
 * code) about basic.publish, or about no method in particular. The publish channel sends nothing else,
 * but a close that names another method (or one the client made) is no verdict on the messages.
 */
export function blamesPublishes(cause: Error): cause is ChannelError {
  if (!(cause instanceof ChannelError) || cause.replyCode === undefined) return false;
  const { classId, methodId } = cause;
  return classId === undefined || classId === 0 || (classId === 60 && methodId === 40);
}

/** Matchers for the reply texts in which RabbitMQ (3.x and 4.x) names what a refused publish got wrong. */
const NAMED: ReadonlyArray<{ pattern: RegExp; culprit(m: OutgoingMessage, found: RegExpExecArray): boolean }> = [
  // 404 NOT_FOUND - no exchange 'x' in vhost '/'
  { pattern: /no exchange '(.*)' in vhost '/s, culprit: (m, f) => m.exchange === f[1] },
  // 403 ACCESS_REFUSED - access to topic 'rk' in exchange 'x' in vhost '/' refused for user 'u'
  {
    pattern: /access to topic '(.*)' in exchange '(.*)' in vhost '/s,
    culprit: (m, f) => m.exchange === f[2] && m.routingKey === f[1],
  },
  // 403 ACCESS_REFUSED - access to exchange 'x' in vhost '/' refused for user 'u'
  { pattern: /access to exchange '(.*)' in vhost '/s, culprit: (m, f) => m.exchange === f[1] },
  // 403 ACCESS_REFUSED - cannot publish to internal exchange 'x' in vhost '/'
  { pattern: /cannot publish to internal exchange '(.*)' in vhost '/s, culprit: (m, f) => m.exchange === f[1] },
  // 406 PRECONDITION_FAILED - user_id property set to 'bob' but authenticated user was 'guest'
  {
    pattern: /user_id property set to '(.*)' but authenticated user was '/s,
    culprit: (m, f) => m.properties.userId === f[1],
  },
  // 406 PRECONDITION_FAILED - message size 17825792 is larger than configured max size 16777216
  {
    pattern: /message size \d+ is larger than configured max size (\d+)/,
    culprit: (m, f) => m.body.length > Number(f[1]),
  },
  // 406 PRECONDITION_FAILED - invalid expiration 'soon': no_integer
  { pattern: /invalid expiration '(.*)': /s, culprit: (m, f) => m.properties.expiration === f[1] },
];

/**
 * The test for the messages a channel close names as its cause (a missing or refused exchange, a wrong
 * user_id, a size over the broker's limit...), or undefined when its text names none.
 */
export function namedCulprits(cause: ChannelError): ((m: OutgoingMessage) => boolean) | undefined {
  const text = cause.replyText ?? '';
  for (const { pattern, culprit } of NAMED) {
    const found = pattern.exec(text);
    if (found !== null) return (m) => culprit(m, found);
  }
  return undefined;
}
