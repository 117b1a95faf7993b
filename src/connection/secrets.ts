/**
 * Keeping secrets out of output: objects that hold a password or TLS key show a redacted view of themselves
 * to `util.inspect` / `console.log` (any depth, `showHidden` too) and to `JSON.stringify`.
 * @module
 */
import { inspect } from 'node:util';

/** node:tls options that are secret (private keys, their passphrase, PFX bundles). */
const TLS_SECRETS = ['key', 'passphrase', 'pfx', 'pskCallback', 'secureContext'] as const;

/** `tls` options with their secrets replaced by `'[redacted]'` (a copy; undefined stays undefined). */
export function redactTls<T extends object | undefined>(tls: T): T {
  if (tls === undefined || tls === null || typeof tls !== 'object') return tls;
  const copy: Record<string, unknown> = { ...tls };
  for (const key of TLS_SECRETS) if (copy[key] !== undefined) copy[key] = '[redacted]';
  return copy as T;
}

/**
 * Makes `util.inspect` and `JSON.stringify` of `target` show `view(target)` instead of its own fields.
 * The two hooks are non-enumerable, so spreading or comparing `target` is unaffected.
 */
export function printAs<T extends object>(target: T, view: (target: T) => object, name?: string): T {
  const custom = (_depth: number, options: object, show: typeof inspect): string => {
    const text = show(view(target), options);
    return name === undefined ? text : `${name} ${text}`;
  };
  Object.defineProperty(target, inspect.custom, { value: custom, enumerable: false, configurable: true });
  Object.defineProperty(target, 'toJSON', { value: () => view(target), enumerable: false, configurable: true });
  return target;
}
