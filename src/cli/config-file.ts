/**
 * Reads a topology file for `validate`, `declare` and `topology`: JSON, YAML (`.yaml` / `.yml`), or a
 * JavaScript module (`.js` / `.mjs` / `.cjs`) whose default export is the config, usually written with
 * `defineConfig(...)`. The YAML parser is loaded only when a YAML file is read: it is a dependency of
 * the CLI, never of the library.
 */
import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RabbitMQConfig } from '../index.js';
import { UsageError } from './usage.js';

/** The kind of file, from its extension: JSON unless it says otherwise. */
export function configFormat(path: string): 'json' | 'yaml' | 'module' {
  const ext = extname(path).toLowerCase();
  if (ext === '.yaml' || ext === '.yml') return 'yaml';
  if (ext === '.js' || ext === '.mjs' || ext === '.cjs' || ext === '.ts' || ext === '.mts') return 'module';
  return 'json';
}

/** Loads the config at `path`; a missing, unreadable or unparsable file is a {@link UsageError}. */
export async function loadConfig(path: string | undefined): Promise<RabbitMQConfig> {
  if (!path) throw new UsageError('a config file is required');
  const format = configFormat(path);
  if (format === 'module') return loadModule(path);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${(err as Error).message}`);
  }
  if (format === 'yaml') {
    const { parse } = await import('yaml');
    try {
      return parse(text) as RabbitMQConfig;
    } catch (err) {
      throw new UsageError(`${path} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  try {
    return JSON.parse(text) as RabbitMQConfig;
  } catch (err) {
    throw new UsageError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
}

async function loadModule(path: string): Promise<RabbitMQConfig> {
  let mod: { default?: unknown; config?: unknown };
  try {
    mod = (await import(pathToFileURL(resolve(path)).href)) as typeof mod;
  } catch (err) {
    throw new UsageError(`cannot load ${path}: ${(err as Error).message.split('\n')[0]}`);
  }
  const config = mod.default ?? mod.config;
  if (config === null || typeof config !== 'object')
    throw new UsageError(`${path} must export a config as its default export (export default defineConfig({...}))`);
  return config as RabbitMQConfig;
}
