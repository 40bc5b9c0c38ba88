// Every command, by the words that name it.
import { checkCommand } from './check-command.ts';
import type { Command } from './command.ts';
import { migrateCommand } from './migrate-command.ts';
import { reloadCommand } from './reload-command.ts';
import { serveCommand } from './serve-command.ts';
import { statusCommand } from './status-command.ts';
import { tenantsDropCommand, tenantsListCommand } from './tenants-command.ts';

export type { Command };

export const commands: Record<string, Command> = {
  serve: serveCommand,
  check: checkCommand,
  migrate: migrateCommand,
  'tenants list': tenantsListCommand,
  'tenants drop': tenantsDropCommand,
  reload: reloadCommand,
  status: statusCommand,
};
