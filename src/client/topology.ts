import type { Channel } from '../connection/channel.js';
import { ChannelError, DeprecatedFeatureError, deprecatedFeatureOf, WarrenError } from '../protocol/errors.js';
import type { FieldTable } from '../protocol/field-table.js';
import type { ResolvedConfig } from './config.js';

/**
 * Declares a validated topology on `channel`: exchanges, then queues (with their exchange binding), then
 * bindings. Idempotent, so it runs on every (re)connect. A 406 PRECONDITION_FAILED is rethrown naming the
 * entity and, where the broker's reply says, the property that differs.
 *
 * Returns the names the broker gave to server-named queues (`name: ''`), in config order.
 */
export async function declareTopology(channel: Channel, config: ResolvedConfig): Promise<string[]> {
  for (const [i, e] of config.exchanges.entries()) {
    await explain(`exchanges[${i}] (exchange ${JSON.stringify(e.name)})`, () =>
      channel.exchangeDeclare({
        exchange: e.name,
        type: e.type,
        durable: e.durable,
        autoDelete: e.autoDelete,
        internal: e.internal,
        arguments: e.arguments as FieldTable,
      }),
    );
  }
  const serverNamed: string[] = [];
  for (const [i, q] of config.queues.entries()) {
    const what = `queues[${i}] (queue ${JSON.stringify(q.name)})`;
    const ok = await explain(what, () =>
      channel.queueDeclare({
        queue: q.name,
        durable: q.durable,
        autoDelete: q.autoDelete,
        exclusive: q.exclusive,
        arguments: q.arguments as FieldTable,
      }),
    );
    if (q.name === '') serverNamed.push(ok.queue);
    if (q.exchange !== undefined) {
      const exchange = q.exchange;
      await explain(`${what} binding to exchange ${JSON.stringify(exchange)}`, () =>
        channel.queueBind({ queue: ok.queue, exchange, routingKey: q.routingKey ?? ok.queue }),
      );
    }
  }
  for (const [i, b] of config.bindings.entries()) {
    await explain(`bindings[${i}] (${b.source} -> ${b.destinationType} ${b.destination})`, () =>
      b.destinationType === 'exchange'
        ? channel.exchangeBind({
            destination: b.destination,
            source: b.source,
            routingKey: b.routingKey,
            arguments: b.arguments as FieldTable,
          })
        : channel.queueBind({
            queue: b.destination,
            exchange: b.source,
            routingKey: b.routingKey,
            arguments: b.arguments as FieldTable,
          }),
    );
  }
  return serverNamed;
}

/**
 * What to change in the config when the broker refuses a deprecated feature while declaring it. Features
 * not listed get the broker's own text only.
 */
const DEPRECATED_FEATURE_FIXES: Readonly<Record<string, string>> = {
  transient_nonexcl_queues:
    'RabbitMQ 4.3 refuses transient non-exclusive queues by default: make the queue durable (durable: true) or exclusive (exclusive: true)',
};

/**
 * Rethrows a channel error with the config entity it concerns, and for 406 the property that differs; a
 * refused deprecated feature (541, which closes the connection) becomes a non-recoverable
 * {@link DeprecatedFeatureError} naming the entity and the feature, so connect() fails at once instead of
 * reconnecting into the same refusal.
 */
async function explain<T>(what: string, declare: () => Promise<T>): Promise<T> {
  try {
    return await declare();
  } catch (err) {
    const feature = refusedFeature(err);
    if (feature !== undefined) {
      const e = err as WarrenError;
      const fix = DEPRECATED_FEATURE_FIXES[feature];
      throw new DeprecatedFeatureError(
        `${what}: the broker refuses the deprecated feature ${feature}${fix ? ` (${fix})` : ''}; it said: ${(e.replyText ?? e.message).split('\n')[0]}`,
        feature,
        { replyCode: e.replyCode, replyText: e.replyText, methodName: e.methodName, cause: err },
      );
    }
    if (!(err instanceof ChannelError) || err.replyCode === undefined) throw err;
    const detail = err.replyCode === 406 ? differingProperty(err.replyText ?? '') : '';
    throw new ChannelError(`${what}: ${err.message}${detail}`, {
      code: err.code,
      replyCode: err.replyCode,
      replyText: err.replyText,
      classId: err.classId,
      methodId: err.methodId,
      methodName: err.methodName,
      recoverable: false,
      cause: err,
    });
  }
}

/**
 * RabbitMQ's 406 text says which property differs: "inequivalent arg 'durable' for queue 'q' in vhost '/':
 * received 'false' but current is 'true'" (likewise 'x-queue-type', 'type' for exchanges).
 */
function differingProperty(replyText: string): string {
  const m = /inequivalent arg '([^']+)'.*?received (.+?) but current is (.+)$/.exec(replyText);
  if (!m) return '';
  return `; the existing entity differs in ${m[1]} (config asks for ${m[2]}, the broker has ${m[3]}): delete it or change the config`;
}

/** The deprecated feature a declare failed on, from the error itself or (through a channel) its reply text. */
function refusedFeature(err: unknown): string | undefined {
  if (err instanceof DeprecatedFeatureError) return err.feature;
  if (!(err instanceof WarrenError) || err.replyCode !== 541) return undefined;
  return deprecatedFeatureOf(err.replyText ?? '');
}
