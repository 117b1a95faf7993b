/**
 * `publishMessage` with a `schema`: the message is validated (possibly asynchronously) before it enters
 * the publisher, and only the schema's output is sent. Without a schema it is the session's publish, with
 * nothing added to the hot path.
 * @module
 */
import { ConsumerOptionsError } from './consume/errors.js';
import { isSchema, validateOrThrow } from './consume/schema.js';
import type { MessageBody, PublishOptions } from './message.js';
import type { Session } from './session/types.js';

/** Validates `message` against `options.schema` (when given), then publishes the result through `session`. */
export function publishChecked<T>(
  session: Session,
  routingKey: string,
  message: T,
  options: PublishOptions<T> = {},
): Promise<void> {
  const { schema } = options;
  if (schema === undefined) return session.publish(routingKey, message as MessageBody, options);
  return publishValidated(session, routingKey, message, options);
}

async function publishValidated<T>(
  session: Session,
  routingKey: string,
  message: T,
  options: PublishOptions<T>,
): Promise<void> {
  const { schema, ...rest } = options;
  if (!isSchema(schema)) {
    throw new ConsumerOptionsError(
      'publishMessage: options.schema must be a Standard Schema or have a safeParse(value) or parse(value) method',
    );
  }
  const where = options.exchange ? `exchange ${JSON.stringify(options.exchange)}, ` : '';
  const value = await validateOrThrow(
    schema,
    message,
    `publishMessage (${where}routing key ${JSON.stringify(routingKey)}): the message`,
  );
  return session.publish(routingKey, value as MessageBody, rest);
}
