// Every command, by the words that name it.
import { certsListCommand, certsRenewCommand } from './certs-command.ts';
import { checkCommand } from './check-command.ts';
import type { Command } from './command.ts';
import { migrateCommand } from './migrate-command.ts';
import { reloadCommand } from './reload-command.ts';
import { serveCommand } from './serve-command.ts';
import { statusCommand } from './status-command.ts';
import { backupCommand } from './backup-command.ts';
import { restoreCommand } from './restore-command.ts';
import { tenantsCloneCommand } from './tenants-clone-command.ts';
import { tenantsDropCommand, tenantsListCommand } from './tenants-command.ts';
import { tenantsExportCommand } from './tenants-export-command.ts';
import { tenantsImportCommand } from './tenants-import-command.ts';
import { tenantsMoveCommand } from './tenants-move-command.ts';

export type { Command };

export const commands: Record<string, Command> = {
  serve: serveCommand,
  check: checkCommand,
  migrate: migrateCommand,
  'tenants list': tenantsListCommand,
  'tenants drop': tenantsDropCommand,
  'tenants export': tenantsExportCommand,
  'tenants import': tenantsImportCommand,
  'tenants clone': tenantsCloneCommand,
  'tenants move': tenantsMoveCommand,
  backup: backupCommand,
  restore: restoreCommand,
  reload: reloadCommand,
  status: statusCommand,
  'certs list': certsListCommand,
  'certs renew': certsRenewCommand,
};
