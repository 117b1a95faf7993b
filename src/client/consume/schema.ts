/**
 * Schemas without depending on any schema library: Standard Schema v1 (the `~standard` property that
 * zod ≥ 3.24, valibot ≥ 1 and arktype implement), and, as before, anything with `safeParse` or `parse`.
 * One function, {@link validateValue}, runs either kind; it stays synchronous when the schema is, so the
 * consumer's hot path pays for a promise only when a schema is asynchronous.
 * @module
 */
import { WarrenError } from '../../protocol/errors.js';
import { errorText } from './errors.js';

/** One problem a Standard Schema reports: what is wrong and where (the path into the value). */
export interface StandardSchemaIssue {
  /** What is wrong. */
  readonly message: string;
  /** Where: keys and indexes from the root of the value (absent or empty: the value itself). */
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}

/** What a Standard Schema's `validate` returns: the (possibly transformed) value, or the issues. */
export type StandardSchemaResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<StandardSchemaIssue> };

/**
 * A Standard Schema v1 (https://standardschema.dev), declared here so that warren needs no dependency:
 * zod, valibot and arktype schemas fit as they are.
 */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  /** The Standard Schema v1 interface: `validate` returns `{ value }` or `{ issues }`, or a promise of one. */
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    validate(value: unknown): StandardSchemaResult<Output> | Promise<StandardSchemaResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

/** The schemas warren accepted before Standard Schema: `safeParse` (preferred) or `parse`. */
export type ParseSchema<T> =
  | { safeParse(value: unknown): { success: boolean; data?: T; error?: unknown } }
  | { parse(value: unknown): T };

/**
 * A schema whose output is `T`: a Standard Schema v1 (zod ≥ 3.24, valibot, arktype...), or anything with
 * `safeParse` / `parse` (a hand-written `{ parse(v) { ...; return v as T } }` included). A Standard
 * Schema is used through `~standard` even when it also has `parse`.
 */
export type Schema<T> = StandardSchemaV1<unknown, T> | ParseSchema<T>;

/**
 * A schema that checks a value of type `T` before it is sent (publish, an RPC request, an RPC server's
 * reply): typed by its *input*, so that a zod schema with defaults accepts what its input allows. A
 * parse/safeParse schema (which declares no input type) fits any `T`.
 */
export type InputSchema<T> =
  | StandardSchemaV1<T, unknown>
  // One that takes anything (declared `StandardSchemaV1<unknown, X>`) takes a `T` too.
  | StandardSchemaV1<unknown, unknown>
  | (ParseSchema<unknown> & { readonly '~standard'?: undefined });

/** The output type of a schema. */
export type SchemaOutput<S> =
  S extends StandardSchemaV1<unknown, infer O> ? O : S extends ParseSchema<infer O> ? O : never;

/** One issue of a failed validation, its path as a string (`items[2].sku`, `(root)` for the value itself). */
export interface SchemaIssue {
  /** The path as text: `items[2].sku`, `(root)` for the value itself. */
  readonly path: string;
  /** What the schema said. */
  readonly message: string;
}

/**
 * A value failed its schema (code `ERR_SCHEMA_VALIDATION`): a `schema` of `publishMessage` (nothing was
 * sent), of `rpc` (the request was not sent, or the reply did not fit) or of an RPC server's reply.
 * `issues` names every path that failed; the message lists them too.
 */
export class SchemaValidationError extends WarrenError {
  static override readonly kind: string = 'SchemaValidationError';
  /** Every failing path, with the schema's message. */
  readonly issues: readonly SchemaIssue[];
  constructor(what: string, issues: readonly SchemaIssue[], cause?: unknown) {
    super(`${what} failed schema validation: ${formatIssues(issues)}`, {
      code: 'ERR_SCHEMA_VALIDATION',
      recoverable: false,
      cause,
    });
    this.issues = issues;
  }
}

/** The outcome of validating a value. */
export type Validated<T> = { ok: true; value: T } | { ok: false; issues: SchemaIssue[]; cause?: unknown };

/** True for a Standard Schema or a parse/safeParse schema. */
export function isSchema(schema: unknown): schema is Schema<unknown> {
  if (schema === null || (typeof schema !== 'object' && typeof schema !== 'function')) return false;
  const std = (schema as { '~standard'?: { validate?: unknown } })['~standard'];
  if (std !== null && typeof std === 'object' && typeof std.validate === 'function') return true;
  const s = schema as { safeParse?: unknown; parse?: unknown };
  return typeof s.safeParse === 'function' || typeof s.parse === 'function';
}

/** Runs `schema` on `value`; synchronous unless the schema is asynchronous. Never throws. */
export function validateValue<T>(schema: Schema<T>, value: unknown): Validated<T> | Promise<Validated<T>> {
  const std = (schema as Partial<StandardSchemaV1<unknown, T>>)['~standard'];
  if (std !== undefined && typeof std.validate === 'function') {
    let result: StandardSchemaResult<T> | Promise<StandardSchemaResult<T>>;
    try {
      result = std.validate(value);
    } catch (err) {
      return thrownIssue(err);
    }
    if (result instanceof Promise) return result.then(fromStandard, thrownIssue);
    return fromStandard(result);
  }
  if ('safeParse' in schema && typeof schema.safeParse === 'function') {
    try {
      const r = schema.safeParse(value);
      if (r?.success) return { ok: true, value: r.data as T };
      return { ok: false, issues: issuesOfError(r?.error), cause: r?.error };
    } catch (err) {
      return thrownIssue(err);
    }
  }
  try {
    return { ok: true, value: (schema as { parse(value: unknown): T }).parse(value) };
  } catch (err) {
    return { ok: false, issues: issuesOfError(err), cause: err };
  }
}

/** Validates, throwing {@link SchemaValidationError} naming `what` on failure. */
export async function validateOrThrow<T>(schema: Schema<T>, value: unknown, what: string): Promise<T> {
  const r = await validateValue(schema, value);
  if (!r.ok) throw new SchemaValidationError(what, r.issues, r.cause);
  return r.value;
}

/** `items[2].sku: Expected string; Required` (an issue of the value itself has no path in the text). */
export function formatIssues(issues: readonly SchemaIssue[]): string {
  if (issues.length === 0) return 'invalid';
  return issues.map((i) => (i.path === ROOT ? i.message : `${i.path}: ${i.message}`)).join('; ');
}

function fromStandard<T>(r: StandardSchemaResult<T>): Validated<T> {
  if (r === null || typeof r !== 'object') {
    return { ok: false, issues: [{ path: ROOT, message: 'the schema returned no result' }] };
  }
  if (r.issues !== undefined) {
    return { ok: false, issues: r.issues.map((i) => ({ path: pathText(i.path), message: String(i.message) })) };
  }
  return { ok: true, value: r.value };
}

function thrownIssue(err: unknown): Validated<never> {
  return { ok: false, issues: [{ path: ROOT, message: `the schema threw: ${errorText(err)}` }], cause: err };
}

const ROOT = '(root)';

/** The issues of a zod-style error (`error.issues`), or one issue with its message. */
function issuesOfError(err: unknown): SchemaIssue[] {
  const issues = (err as { issues?: unknown } | null)?.issues;
  if (Array.isArray(issues) && issues.length > 0) {
    return issues.map((i: { path?: StandardSchemaIssue['path']; message?: unknown }) => ({
      path: pathText(i?.path),
      message: String(i?.message ?? 'invalid'),
    }));
  }
  return [{ path: ROOT, message: errorText(err ?? 'invalid') }];
}

function pathText(path: StandardSchemaIssue['path']): string {
  if (path === undefined || path.length === 0) return ROOT;
  let out = '';
  for (const seg of path) {
    const key = typeof seg === 'object' && seg !== null ? seg.key : seg;
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}
