// What every command module exports, and the config lookup they share.
import type { ParseArgsConfig } from 'node:util';
import type { Config } from '../config/config.ts';
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
