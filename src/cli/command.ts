// What every command module exports, and the config lookup they share.
import type { ParseArgsConfig } from 'node:util';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Address, Config } from '../config/config.ts';
import { address } from '../config/config-schema.ts';
import { defaultConfigFile, loadConfig } from '../config/load-config.ts';

export interface Command {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** Returns the exit code. */
  run(values: Record<string, unknown>, positionals: string[]): Promise<number>;
}

export function configPath(values: Record<string, unknown>): string {
  return (values.config as string | undefined) ?? process.env.TENANTD_CONFIG ?? defaultConfigFile;
}

export function readConfig(values: Record<string, unknown>): Config {
  return loadConfig(configPath(values));
}

/**
 * The admin address of the running service, from the main config file alone
 * (`admin` and `adminToken` live nowhere else): a config being edited may be
 * invalid (that is what `reload` is about to find out), and reading every
 * tenant file of a large tenantsDir would cost the command its speed.
 */
export function readAdminAddress(values: Record<string, unknown>): { admin: Address; token: string | undefined } {
  const file = configPath(values);
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, 'utf8'));
  } catch {
    // Unreadable or not YAML: loadConfig says why, in its words.
    const config = readConfig(values);
    return { admin: config.admin, token: config.adminToken };
  }
  const fields = (raw ?? {}) as { admin?: unknown; adminToken?: unknown };
  const parsed = address.default('127.0.0.1:9080').safeParse(fields.admin);
  if (!parsed.success) {
    const config = readConfig(values);
    return { admin: config.admin, token: config.adminToken };
  }
  const token = process.env.TENANTD_ADMIN_TOKEN || (typeof fields.adminToken === 'string' ? fields.adminToken : undefined);
  return { admin: parsed.data, token };
}
