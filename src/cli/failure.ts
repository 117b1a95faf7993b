import { WarrenError } from '../index.js';

/**
 * One line (two when there is advice) saying why a command failed: the error code and message, and for
 * a broker that does not answer, what to do about it. Never a stack trace: it tells a user nothing.
 */
export function explainFailure(err: unknown): string {
  const e = err as Error & { code?: unknown; errors?: unknown[] };
  const text = err instanceof WarrenError ? `${err.code}: ${err.message}` : String(e?.message ?? err);
  const refused = /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|ERR_CONNECT|timed out/i.test(
    `${text} ${String((e as { cause?: Error })?.cause?.message ?? '')}`,
  );
  const hint = refused
    ? '\nwarren: is RabbitMQ running there? Start one (rabbitmq-server -detached, or docker run -p 5672:5672 rabbitmq:4) or pass --url / RABBITMQ_URL.'
    : '';
  return `warren: ${text}${hint}`;
}
