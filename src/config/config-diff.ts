// What a reload changes: sites added, removed, changed (their workers are
// replaced) and unchanged (not touched), and the keys that only a restart applies.
import { isDeepStrictEqual } from 'node:util';
import type { Config, Site } from './config.ts';

export interface ConfigDiff {
  added: Site[];
  removed: Site[];
  changed: Site[];
  unchanged: Site[];
  /** Keys whose new value is ignored until the service restarts. */
  restartRequired: string[];
}

/**
 * Database keys bound when the service starts (the server, and the role options
 * the provisioner sets): a reload keeps their running values.
 */
export const startBoundDatabaseKeys = ['url', 'dataDir', 'port', 'rolePrefix', 'connectionLimit', 'statementTimeout'] as const;

/** Keys a reload does not apply: their new value waits for a restart. */
export const restartKeys: readonly string[] = ['listen', 'tls.listen', 'admin', 'adminToken', 'router.maxHeaderSize', 'log.format', ...startBoundDatabaseKeys.map((key) => `database.${key}`)];

/**
 * Keys every site's workers start with (or are provisioned with): a reload that
 * changes one replaces the workers of every site. `workers.*` is every key of
 * that section but startConcurrency, which only paces starts.
 */
export const everyWorkerKeys: readonly string[] = ['app', 'database.poolSize', 'database.idleTimeout', 'log.level', 'migrations.shared', 'migrations.tenant', 'workers.*'];

/** Whether `key` is one of `keys` (where `section.*` stands for the section's every key). */
export function keyIn(keys: readonly string[], key: string): boolean {
  return keys.some((k) => k === key || (k.endsWith('.*') && key.startsWith(k.slice(0, -1))));
}

/** The value at a dotted key path. */
function valueAt(config: Config, key: string): unknown {
  return key.split('.').reduce<unknown>((value, step) => (value as Record<string, unknown> | undefined)?.[step], config);
}

/** The public site (if any) and the tenants: everything that gets workers. */
export function sitesOf(config: Config): Site[] {
  return config.public ? [config.public, ...config.tenants] : [...config.tenants];
}

/** The values of everyWorkerKeys, as one comparable object. */
function workerStart(config: Config): Record<string, unknown> {
  const { startConcurrency: _pace, ...workers } = config.workers;
  const single = everyWorkerKeys.filter((key) => !key.endsWith('.*')).map((key) => [key, valueAt(config, key)]);
  return { ...Object.fromEntries(single), workers };
}

/** A site without its `database`: that key places a new tenant only (an existing one moves by tenants move), so it changes nothing that runs. */
function placementAside(site: Site): Omit<Site, 'database'> {
  const { database: _placement, ...rest } = site;
  return rest;
}

export function diffConfig(current: Config, next: Config): ConfigDiff {
  // Settings every worker of every site starts with: a change replaces them all.
  const workersChanged = !isDeepStrictEqual(workerStart(current), workerStart(next));
  const before = new Map(sitesOf(current).map((s) => [s.schema, s]));
  const after = new Map(sitesOf(next).map((s) => [s.schema, s]));
  const diff: ConfigDiff = { added: [], removed: [], changed: [], unchanged: [], restartRequired: [] };
  for (const [schema, site] of after) {
    const old = before.get(schema);
    if (!old) diff.added.push(site);
    else if (workersChanged || !isDeepStrictEqual(placementAside(old), placementAside(site))) diff.changed.push(site);
    else diff.unchanged.push(site);
  }
  for (const [schema, site] of before) if (!after.has(schema)) diff.removed.push(site);
  for (const key of restartKeys) {
    if (!isDeepStrictEqual(valueAt(current, key), valueAt(next, key))) diff.restartRequired.push(key);
  }
  return diff;
}
