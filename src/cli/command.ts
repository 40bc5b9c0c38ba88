// What every command module exports, and the config lookup they share.
import type { ParseArgsConfig } from 'node:util';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Address, Config } from '../config/config.ts';
import { address } from '../config/config-schema.ts';
import { defaultConfigFile, loadConfig } from '../config/load-config.ts';
import { TenantdError } from '../base/errors.ts';

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
 * The admin address of the running service. A config being edited may be invalid
 * (that is what `reload` is about to find out), so only `admin` must be readable.
 */
export function readAdminAddress(values: Record<string, unknown>): { admin: Address; token: string | undefined } {
  try {
    const config = readConfig(values);
    return { admin: config.admin, token: config.adminToken };
  } catch (error) {
    if (!(error instanceof TenantdError) || error.code !== 'TENANTD_CONFIG_INVALID') throw error;
    let raw: unknown;
    try {
      raw = parse(readFileSync(configPath(values), 'utf8'));
    } catch {
      throw error;
    }
    const fields = (raw ?? {}) as { admin?: unknown; adminToken?: unknown };
    const parsed = address.default('127.0.0.1:9080').safeParse(fields.admin);
    if (!parsed.success) throw error;
    const token = process.env.TENANTD_ADMIN_TOKEN || (typeof fields.adminToken === 'string' ? fields.adminToken : undefined);
    return { admin: parsed.data, token };
  }
}
