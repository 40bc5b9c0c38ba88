// tenantd backup <file>: every tenant, public's shared tables and the registry,
// in one snapshot, to one file; runs while the service serves.
import { readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../base/project-root.ts';
import { errors } from '../base/errors.ts';
import { backupDatabase } from '../data/backup-database.ts';
import type { Command } from './command.ts';
import { readConfig } from './command.ts';
import { progress, sizeOf } from './progress.ts';
import { withDatabase } from './with-database.ts';

/** tenantd's version, for a manifest. */
export function tenantdVersion(): string {
  return (JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

/** --concurrency, or the config's migrations.concurrency. */
export function concurrencyOf(values: Record<string, unknown>, fallback: number): number {
  const n = values.concurrency === undefined ? fallback : Number(values.concurrency);
  if (!Number.isInteger(n) || n < 1) throw new errors.Usage('--concurrency: expected a whole number ≥ 1');
  return n;
}

/**
 * A backup runs beside the service it copies: it gives way on the CPU (nice
 * 10, as the shipped timer's unit sets), so that the service's requests wait
 * less for it. A process already lower keeps its priority.
 */
export function yieldToService(): void {
  try {
    if (os.getPriority() < backupNice) os.setPriority(backupNice);
  } catch {
    // Not permitted here: it runs at the priority it has.
  }
}

const backupNice = 10;

export const backupCommand: Command = {
  summary: 'write every tenant, the shared tables and the registry, in one snapshot, to a file (while serving); --server: of that database server',
  usage: '[-c FILE] <file> [--concurrency N] [--server NAME]',
  options: { concurrency: { type: 'string' }, server: { type: 'string' } },
  async run(values, positionals) {
    const config = readConfig(values);
    if (positionals.length !== 1) throw new errors.Usage('backup takes one file');
    yieldToService();
    const file = path.resolve(positionals[0]!);
    const shown = progress();
    let schemas = 0;
    let rows = 0;
    const manifest = await withDatabase(config, (database, provisioner) => backupDatabase({
      adminUrl: database.adminUrl, provisioner, file, concurrency: concurrencyOf(values, config.migrations.concurrency), version: tenantdVersion(),
      onSchema: (copy) => {
        schemas += 1;
        rows += copy.tables.reduce((n, t) => n + t.rows, 0);
        shown.show(`backup: ${schemas} schemas, ${rows} rows`);
      },
    }), { server: values.server as string | undefined });
    shown.done();
    const tenants = manifest.schemas.filter((s) => s.kind === 'tenant').length;
    process.stdout.write(`wrote ${positionals[0]}: ${tenants} tenants and the shared tables, ${rows} rows, ${sizeOf(statSync(file).size)}, as of ${manifest.snapshot}\n`);
    return 0;
  },
};
