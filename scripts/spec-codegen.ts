/**
 * Turns the RabbitMQ AMQP 0-9-1 spec JSON into `src/protocol/spec.ts`: constants, reply codes, class and
 * method ids, typed argument objects, an encoder and a decoder for every method, and the basic content
 * properties codec. Pure (string in, string out) so a test can regenerate and diff the committed file.
 */

interface SpecArgument {
  name: string;
  type?: string;
  domain?: string;
  'default-value'?: unknown;
}
interface SpecMethod {
  name: string;
  id: number;
  synchronous?: boolean;
  content?: boolean;
  arguments: SpecArgument[];
}
interface SpecClass {
  name: string;
  id: number;
  methods: SpecMethod[];
  properties?: { name: string; type: string }[];
}
export interface AmqpSpec {
  'major-version': number;
  'minor-version': number;
  revision: number;
  copyright: string[];
  domains: [string, string][];
  constants: { name: string; value: number; class?: string }[];
  classes: SpecClass[];
}

/** The classes warren speaks; `access` is deprecated and refused by RabbitMQ. */
const CLASSES = ['connection', 'channel', 'exchange', 'queue', 'basic', 'tx', 'confirm'];

const TS_TYPES: Record<string, string> = {
  bit: 'boolean',
  octet: 'number',
  short: 'number',
  long: 'number',
  longlong: 'number',
  shortstr: 'string',
  longstr: 'string',
  table: 'FieldTable',
  timestamp: 'Date',
};

/**
 * One line of TSDoc per reply code, emitted on the members of `ReplyCode` (the spec JSON carries no prose).
 * From the AMQP 0-9-1 spec's descriptions, with what RabbitMQ does where it differs.
 */
const REPLY_CODE_DOCS: Record<string, string> = {
  'REPLY-SUCCESS': 'Normal completion: the reply code of a close that reports no error.',
  'CONTENT-TOO-LARGE': 'Soft: the broker cannot take content this large at the moment; it may later.',
  'NO-ROUTE': 'Soft: a `mandatory` message could not be routed to any queue; it comes back with basic.return.',
  'NO-CONSUMERS':
    'Soft: an `immediate` message could not be delivered to a consumer at once (RabbitMQ does not support `immediate`).',
  'ACCESS-REFUSED':
    'Soft: no permission for the resource, a reserved `amq.` name, or an exclusive consumer / the default exchange in the way.',
  'NOT-FOUND': 'Soft: the queue or exchange named does not exist (a passive declare, a bind, a publish, a consume).',
  'RESOURCE-LOCKED': 'Soft: the queue is exclusive to another connection, or otherwise locked against this use.',
  'PRECONDITION-FAILED':
    'Soft: a declare with arguments that differ from the existing entity, a failed `ifUnused` / `ifEmpty`, a wrong `userId`, tx and confirm mode mixed...',
  'CONNECTION-FORCED':
    'Hard: the broker (an operator, a shutdown, a node going down) closed the connection; reconnecting may succeed.',
  'INVALID-PATH': 'Hard: an unknown virtual host in the spec (RabbitMQ answers one with NOT_ALLOWED).',
  'FRAME-ERROR': 'Hard: a malformed frame (bad size, bad end octet, over `frameMax`).',
  'SYNTAX-ERROR': 'Hard: a frame whose field values are invalid.',
  'COMMAND-INVALID': 'Hard: a method not valid at this point (wrong order, unknown exchange type...).',
  'CHANNEL-ERROR': 'Hard: a channel used wrongly (not open, opened twice...).',
  'UNEXPECTED-FRAME':
    'Hard: a frame of a type or on a channel not expected now (e.g. a method in the middle of content).',
  'RESOURCE-ERROR': 'Hard: the broker lacks the resources (memory, file descriptors...) to do what was asked.',
  'NOT-ALLOWED':
    "Hard: refused by the broker's rules: vhost access denied or not found, a consumer tag reused, a feature disabled...",
  'NOT-IMPLEMENTED': 'Hard: functionality the broker does not implement (e.g. a non-zero `prefetchSize`).',
  'INTERNAL-ERROR':
    'Hard: an internal error of the broker; RabbitMQ also uses it to refuse a denied deprecated feature.',
};

/** One TSDoc comment per basic content property, emitted on the members of `BasicProperties`. */
const PROPERTY_DOCS: Record<string, string> = {
  'content-type': 'MIME type of the body, e.g. `"application/json"`, `"text/plain"`.',
  'content-encoding': 'Encoding applied to the body, e.g. `"gzip"`, or the charset of a text body.',
  headers:
    'Application headers (a field table). Headers exchanges route by them; the broker adds some (`x-death` on dead-lettered messages...).',
  'delivery-mode':
    '1 transient, 2 persistent: a persistent message in a durable queue survives a broker restart. Quorum queues and streams store every message.',
  priority:
    'Priority 0..255 (0 the lowest); only queues declared with `x-max-priority` order by it, up to that maximum.',
  'correlation-id': 'Ties a message to another, e.g. a reply to its request (RPC).',
  'reply-to': 'Where a reply should be sent: a queue name, or `"amq.rabbitmq.reply-to"` (direct reply-to).',
  expiration:
    'Per-message time to live, in milliseconds, as a decimal string (`"60000"`): once it passes in the queue the message is dropped or dead-lettered.',
  'message-id': 'An application identifier of the message (for deduplication, logs, tracing).',
  timestamp:
    'When the message was made: whole seconds on the wire (milliseconds are dropped). A value no `Date` can hold arrives as a `RawTimestamp`.',
  type: 'An application name for the kind of message, e.g. `"order.created"`.',
  'user-id':
    "The user that published it: RabbitMQ checks it against the connection's user and closes the channel (406 PRECONDITION_FAILED) when it differs.",
  'app-id': 'An identifier of the publishing application.',
  'cluster-id': 'Reserved by AMQP 0-9-1 (deprecated); RabbitMQ does not use it.',
};

function camel(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
function pascal(name: string): string {
  const c = camel(name);
  return c.charAt(0).toUpperCase() + c.slice(1);
}
function constName(name: string): string {
  return name.replace(/-/g, '_').toUpperCase();
}

function resolveType(spec: AmqpSpec, arg: SpecArgument): string {
  if (arg.type) return arg.type;
  const domains = new Map(spec.domains);
  let t = arg.domain!;
  for (let i = 0; i < 8 && domains.has(t) && domains.get(t) !== t; i++) t = domains.get(t)!;
  if (!(t in TS_TYPES)) throw new Error(`unknown domain ${arg.domain} for ${arg.name}`);
  return t;
}

function literal(value: unknown): string {
  if (typeof value === 'object' && value !== null)
    return Object.keys(value).length === 0 ? '{}' : JSON.stringify(value);
  return JSON.stringify(value);
}

interface Arg {
  field: string;
  wire: string;
  type: string;
  hasDefault: boolean;
  defaultValue: unknown;
}

interface MethodModel {
  cls: SpecClass;
  method: SpecMethod;
  full: string;
  typeName: string;
  constName: string;
  args: Arg[];
}

function methodModels(spec: AmqpSpec): MethodModel[] {
  const out: MethodModel[] = [];
  for (const clsName of CLASSES) {
    const cls = spec.classes.find((c) => c.name === clsName);
    if (!cls) throw new Error(`class ${clsName} missing from spec`);
    for (const method of cls.methods) {
      out.push({
        cls,
        method,
        full: `${cls.name}.${method.name}`,
        typeName: pascal(cls.name) + pascal(method.name),
        constName: `${constName(cls.name)}_${constName(method.name)}`,
        args: method.arguments.map((a) => ({
          field: camel(a.name),
          wire: a.name,
          type: resolveType(spec, a),
          hasDefault: 'default-value' in a,
          defaultValue: a['default-value'],
        })),
      });
    }
  }
  return out;
}

function encodeStatements(m: MethodModel): string[] {
  const lines: string[] = [];
  let bitIndex = -1;
  const flushBits = () => {
    if (bitIndex >= 0) lines.push('  w.u8(bits);');
    bitIndex = -1;
  };
  for (const a of m.args) {
    const v = a.hasDefault ? `a.${a.field} ?? ${literal(a.defaultValue)}` : `a.${a.field}`;
    const path = JSON.stringify(`${m.full} ${a.field}`);
    if (a.type === 'bit') {
      if (bitIndex < 0 || bitIndex === 8) {
        flushBits();
        lines.push(lines.some((l) => l.includes('let bits')) ? '  bits = 0;' : '  let bits = 0;');
        bitIndex = 0;
      }
      const test = a.defaultValue === true ? `a.${a.field} ?? true` : `a.${a.field}`;
      lines.push(`  if (${test}) bits |= ${1 << bitIndex};`);
      bitIndex++;
      continue;
    }
    flushBits();
    switch (a.type) {
      case 'octet':
        lines.push(`  w.u8(${v});`);
        break;
      case 'short':
        lines.push(`  w.u16(${v});`);
        break;
      case 'long':
        lines.push(`  w.u32(${v});`);
        break;
      case 'longlong':
        lines.push(`  w.u64(${v}, ${path});`);
        break;
      case 'shortstr':
        lines.push(`  w.shortstr(${v}, ${path});`);
        break;
      case 'longstr':
        lines.push(`  w.longstr(${v}, ${path});`);
        break;
      case 'table':
        lines.push(`  writeTable(w, ${v}, ${path});`);
        break;
      case 'timestamp':
        lines.push(`  w.timestamp(${v}, ${path});`);
        break;
      default:
        throw new Error(`no encoder for ${a.type}`);
    }
  }
  flushBits();
  return lines;
}

function decodeStatements(m: MethodModel): string[] {
  const lines: string[] = [];
  let bitIndex = -1;
  let bitVar = 0;
  const fields: string[] = [];
  for (const a of m.args) {
    if (a.type === 'bit') {
      if (bitIndex < 0 || bitIndex === 8) {
        bitVar++;
        lines.push(`  const bits${bitVar} = r.u8();`);
        bitIndex = 0;
      }
      fields.push(`${a.field}: (bits${bitVar} & ${1 << bitIndex}) !== 0`);
      bitIndex++;
      continue;
    }
    bitIndex = -1;
    const reader: Record<string, string> = {
      octet: 'r.u8()',
      short: 'r.u16()',
      long: 'r.u32()',
      longlong: 'r.u64()',
      shortstr: 'r.shortstr()',
      longstr: 'r.longstr()',
      table: 'readTable(r)',
      timestamp: 'r.timestamp()',
    };
    // `arguments` cannot name a local in strict mode.
    const local = a.field === 'arguments' ? 'args' : a.field;
    lines.push(`  const ${local} = ${reader[a.type]};`);
    fields.push(local === a.field ? a.field : `${a.field}: ${local}`);
  }
  lines.push(`  r.expectEnd(${JSON.stringify(m.full)});`);
  const body = [`name: ${JSON.stringify(m.full)}`, ...fields].join(', ');
  lines.push(`  return { ${body} };`);
  return lines;
}

function propertiesSection(spec: AmqpSpec): string[] {
  const basic = spec.classes.find((c) => c.name === 'basic')!;
  const props = basic.properties ?? [];
  if (props.length > 15) throw new Error('more than 15 properties needs continuation flag words');
  const out: string[] = [];
  out.push('/** The basic content properties (AMQP content header of class basic). */');
  out.push('export interface BasicProperties {');
  for (const p of props) {
    const doc = PROPERTY_DOCS[p.name];
    if (doc === undefined) throw new Error(`no PROPERTY_DOCS entry for ${p.name}`);
    out.push(`  /** ${doc} */`);
    out.push(`  ${camel(p.name)}?: ${TS_TYPES[p.type]} | undefined;`);
  }
  out.push('}');
  out.push('');
  out.push('/** Property flag bits, first property in the highest bit as the spec orders them. */');
  out.push('export const PROPERTY_FLAGS = {');
  props.forEach((p, i) => {
    out.push(`  ${camel(p.name)}: 0x${(1 << (15 - i)).toString(16)},`);
  });
  out.push('} as const;');
  out.push('');
  out.push('/** Writes the property flag word and list of a content header. */');
  out.push('export function encodeBasicProperties(w: BufferWriter, p: BasicProperties): void {');
  out.push('  w.ensure(2);');
  out.push('  const flagsAt = w.pos;');
  out.push('  w.pos += 2;');
  out.push('  let flags = 0;');
  props.forEach((p, i) => {
    const f = camel(p.name);
    const path = JSON.stringify(`properties.${f}`);
    const bit = `0x${(1 << (15 - i)).toString(16)}`;
    const write: Record<string, string> = {
      shortstr: `w.shortstr(p.${f}, ${path})`,
      octet: `w.u8(checkOctet(p.${f}, ${path}))`,
      table: `writeTable(w, p.${f}, ${path})`,
      timestamp: `w.timestamp(p.${f}, ${path})`,
    };
    out.push(`  if (p.${f} !== undefined) {`);
    out.push(`    flags |= ${bit};`);
    out.push(`    ${write[p.type]};`);
    out.push('  }');
  });
  out.push('  w.buf.writeUInt16BE(flags, flagsAt);');
  out.push('}');
  out.push('');
  out.push('/** Reads the property flag word(s) and list of a content header. */');
  out.push('export function decodeBasicProperties(r: BufferReader): BasicProperties {');
  out.push('  const flags = r.u16();');
  out.push(`  if ((flags & 0x${((1 << (16 - props.length)) - 1).toString(16)}) !== 0) {`);
  out.push(
    '    throw new ProtocolError(502, `malformed content header: unknown property flags 0x${flags.toString(16)}`);',
  );
  out.push('  }');
  out.push('  const p: BasicProperties = {};');
  props.forEach((p, i) => {
    const f = camel(p.name);
    const bit = `0x${(1 << (15 - i)).toString(16)}`;
    const read: Record<string, string> = {
      shortstr: 'r.shortstr()',
      octet: 'r.u8()',
      table: 'readTable(r)',
      timestamp: 'r.timestamp()',
    };
    out.push(`  if (flags & ${bit}) p.${f} = ${read[p.type]};`);
  });
  out.push('  return p;');
  out.push('}');
  return out;
}

/** Generates the source of `src/protocol/spec.ts` from the spec JSON. */
export function generateSpecSource(spec: AmqpSpec): string {
  const methods = methodModels(spec);
  const o: string[] = [];
  o.push('// DO NOT EDIT. Generated by scripts/generate-spec.ts from spec/amqp-rabbitmq-0.9.1.json;');
  o.push('// run `npm run generate` to regenerate. test/unit/protocol/generated.test.ts fails on any drift.');
  o.push('//');
  for (const line of spec.copyright.join('').trimEnd().split('\n')) o.push(`// ${line}`.trimEnd());
  o.push('');
  o.push("import { EncodeError, ProtocolError } from './errors.js';");
  o.push("import { type FieldTable, readTable, writeTable } from './field-table.js';");
  o.push("import type { BufferReader } from './reader.js';");
  o.push("import type { BufferWriter } from './writer.js';");
  o.push('');
  o.push(
    `export const PROTOCOL_VERSION = { major: ${spec['major-version']}, minor: ${spec['minor-version']}, revision: ${spec.revision} } as const;`,
  );
  o.push('');
  o.push('// Constants');
  for (const c of spec.constants) {
    if (c.class) continue;
    o.push(`export const ${constName(c.name)} = ${c.value};`);
  }
  o.push('');
  o.push('/** AMQP reply codes by name. Soft codes close only the channel, hard codes the whole connection. */');
  o.push('export const ReplyCode = {');
  for (const c of spec.constants) {
    if (!c.class && c.name !== 'REPLY-SUCCESS') continue;
    const doc = REPLY_CODE_DOCS[c.name];
    if (doc === undefined) throw new Error(`no REPLY_CODE_DOCS entry for ${c.name}`);
    o.push(`  /** ${c.value} ${constName(c.name)}. ${doc} */`);
    o.push(`  ${constName(c.name)}: ${c.value},`);
  }
  o.push('} as const;');
  o.push('');
  o.push('/** Whether each reply code is a channel ("soft") or connection ("hard") error. */');
  o.push("export const REPLY_CODE_SCOPE: Readonly<Record<number, 'soft' | 'hard'>> = {");
  for (const c of spec.constants) if (c.class) o.push(`  ${c.value}: '${c.class === 'hard-error' ? 'hard' : 'soft'}',`);
  o.push('};');
  o.push('');
  o.push('/** Class ids. */');
  o.push('export const ClassId = {');
  for (const name of CLASSES) o.push(`  ${constName(name)}: ${spec.classes.find((c) => c.name === name)!.id},`);
  o.push('} as const;');
  o.push('');
  o.push('/** Method keys: `(classId << 16) | methodId`, the value `methodKey()` returns. */');
  o.push('export const MethodKey = {');
  for (const m of methods)
    o.push(`  ${m.constName}: 0x${((m.cls.id << 16) | m.method.id).toString(16).padStart(6, '0')},`);
  o.push('} as const;');
  o.push('');
  o.push('/** Combines a class id and method id into one number. */');
  o.push('export function methodKey(classId: number, methodId: number): number {');
  o.push('  return (classId << 16) | methodId;');
  o.push('}');
  o.push('');
  for (const m of methods) {
    o.push(`/** Arguments of \`${m.full}\` (${m.cls.id}/${m.method.id}). */`);
    o.push(`export interface ${m.typeName} {`);
    for (const a of m.args) o.push(`  ${a.field}: ${TS_TYPES[a.type]};`);
    o.push('}');
  }
  o.push('');
  o.push('/** Arguments of every method, by method name. */');
  o.push('export interface MethodArgs {');
  for (const m of methods) o.push(`  ${JSON.stringify(m.full)}: ${m.typeName};`);
  o.push('}');
  o.push('');
  o.push('/** Arguments accepted when encoding: those with a default in the spec may be left out. */');
  o.push('export interface MethodInputs {');
  for (const m of methods) {
    const optional = m.args.filter((a) => a.hasDefault).map((a) => JSON.stringify(a.field));
    const t = optional.length ? `Optional<${m.typeName}, ${optional.join(' | ')}>` : m.typeName;
    o.push(`  ${JSON.stringify(m.full)}: ${t};`);
  }
  o.push('}');
  o.push('');
  o.push('type Optional<T, K extends keyof T> = Omit<T, K> & { [P in K]?: T[P] | undefined };');
  o.push('');
  o.push('/** A method name such as `"basic.publish"`. */');
  o.push('export type MethodName = keyof MethodArgs;');
  o.push('');
  o.push('/** A decoded method: its arguments plus `name` as the discriminant. */');
  o.push('export type Method = { [N in MethodName]: { name: N } & MethodArgs[N] }[MethodName];');
  o.push('');
  o.push('/** A decoded method of the given name. */');
  o.push('export type MethodOf<N extends MethodName> = { name: N } & MethodArgs[N];');
  o.push('');
  o.push('/** What the spec says of each method. */');
  o.push('export interface MethodInfo {');
  o.push('  readonly name: MethodName;');
  o.push('  readonly classId: number;');
  o.push('  readonly methodId: number;');
  o.push('  /** Expects a reply (`-ok`) from the peer. */');
  o.push('  readonly synchronous: boolean;');
  o.push('  /** Followed by a content header and body frames. */');
  o.push('  readonly content: boolean;');
  o.push('}');
  o.push('');
  o.push('/** Method metadata by name. */');
  o.push('export const METHODS: { readonly [N in MethodName]: MethodInfo & { readonly name: N } } = {');
  for (const m of methods) {
    o.push(
      `  ${JSON.stringify(m.full)}: { name: ${JSON.stringify(m.full)}, classId: ${m.cls.id}, methodId: ${m.method.id}, synchronous: ${m.method.synchronous === true}, content: ${m.method.content === true} },`,
    );
  }
  o.push('};');
  o.push('');
  o.push('/** Method metadata by `methodKey(classId, methodId)`. */');
  o.push('export const METHODS_BY_KEY: ReadonlyMap<number, MethodInfo> = new Map(');
  o.push('  Object.values(METHODS).map((m: MethodInfo) => [methodKey(m.classId, m.methodId), m]),');
  o.push(');');
  o.push('');
  o.push('// Encoders: write the argument list (after the class and method ids).');
  for (const m of methods) {
    const body = encodeStatements(m);
    const param = body.length ? 'a' : '_a';
    o.push(
      `export function encode${m.typeName}(w: BufferWriter, ${param}: MethodInputs[${JSON.stringify(m.full)}]): void {`,
    );
    o.push(...body);
    o.push('}');
  }
  o.push('');
  o.push('// Decoders: read the argument list (after the class and method ids).');
  for (const m of methods) {
    o.push(`export function decode${m.typeName}(r: BufferReader): MethodOf<${JSON.stringify(m.full)}> {`);
    o.push(...decodeStatements(m));
    o.push('}');
  }
  o.push('');
  o.push('/** Writes a method payload: class id, method id, arguments. */');
  o.push(
    'export function encodeMethodPayload<N extends MethodName>(w: BufferWriter, name: N, args: MethodInputs[N]): void {',
  );
  o.push('  const info = METHODS[name] as MethodInfo | undefined;');
  o.push('  if (info === undefined) throw new ProtocolError(540, `unknown method ${String(name)}`);');
  o.push('  w.ensure(4);');
  o.push('  w.buf.writeUInt16BE(info.classId, w.pos);');
  o.push('  w.buf.writeUInt16BE(info.methodId, w.pos + 2);');
  o.push('  w.pos += 4;');
  o.push('  const a = args as never;');
  o.push('  switch (name as MethodName) {');
  for (const m of methods) o.push(`    case ${JSON.stringify(m.full)}: return encode${m.typeName}(w, a);`);
  o.push('  }');
  o.push('}');
  o.push('');
  o.push('/** Reads a method payload (class id, method id, arguments); unknown ids are a 540. */');
  o.push('export function decodeMethodPayload(r: BufferReader): Method {');
  o.push('  const classId = r.u16();');
  o.push('  const methodId = r.u16();');
  o.push('  switch ((classId << 16) | methodId) {');
  for (const m of methods) o.push(`    case ${(m.cls.id << 16) | m.method.id}: return decode${m.typeName}(r);`);
  o.push('  }');
  o.push(
    '  throw new ProtocolError(540, `unknown method: class ${classId}, method ${methodId}`, { classId, methodId });',
  );
  o.push('}');
  o.push('');
  o.push('function checkOctet(v: number, path: string): number {');
  o.push('  if (!Number.isInteger(v) || v < 0 || v > 255) {');
  o.push('    throw new EncodeError(`${path} must be an integer 0..255, got ${v}`);');
  o.push('  }');
  o.push('  return v;');
  o.push('}');
  o.push('');
  o.push(...propertiesSection(spec));
  o.push('');
  return o.join('\n');
}
