// `tenantd <command>`: parses the command line, runs one command, and turns a
// user's mistake into one line on stderr and exit 1 (no stack trace).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { sqlStateOf } from '../db/sql-state.ts';
import { TenantdError, errors } from '../base/errors.ts';
import { commands, type Command } from './commands.ts';

const usage = `usage: tenantd <command> [options]

commands:
${Object.entries(commands).map(([name, c]) => `  ${name.padEnd(22)} ${c.summary}`).join('\n')}

Every command takes -c/--config FILE (default: $TENANTD_CONFIG or config/tenantd.yaml)
and --help.`;

function commandHelp(name: string, command: Command): string {
  return `usage: tenantd ${name} ${command.usage}\n\n${command.summary}`;
}

/** Command groups (`tenants`): the first word of the commands named by two. */
const groups = new Set(Object.keys(commands).filter((name) => name.includes(' ')).map((name) => name.split(' ')[0]!));

function groupHelp(group: string): string {
  const members = Object.entries(commands).filter(([name]) => name.startsWith(`${group} `));
  return `usage: tenantd ${group} <command> [options]\n\ncommands:\n${members.map(([name, c]) => `  ${name.padEnd(22)} ${c.summary}`).join('\n')}\n\nEach takes -c/--config FILE and --help.`;
}

export async function main(argv: string[]): Promise<number> {
  const words = argv.filter((a) => !a.startsWith('-'));
  const help = argv.includes('--help') || argv.includes('-h');
  if (words[0] !== undefined && groups.has(words[0]) && (words[1] === undefined || !commands[`${words[0]} ${words[1]}`])) {
    // The group alone, or with --help: what it holds. An unknown member is a usage error.
    if (words[1] !== undefined) throw new errors.Usage(`unknown command "${words[0]} ${words[1]}"`);
    process.stdout.write(`${groupHelp(words[0])}\n`);
    return help ? 0 : 2;
  }
  const name = words[0] !== undefined && groups.has(words[0]) ? `${words[0]} ${words[1]}` : words[0];
  if (!name || argv[0] === '--help' || argv[0] === '-h') {
    process.stdout.write(`${usage}\n`);
    return name || argv.length > 0 ? 0 : 2;
  }
  const command = commands[name];
  if (!command) throw new errors.Usage(`unknown command "${name}"`);
  const rest = [...argv];
  for (const word of name.split(' ')) rest.splice(rest.indexOf(word), 1);
  const options = {
    config: { type: 'string', short: 'c' },
    help: { type: 'boolean', short: 'h' },
    ...command.options,
  } satisfies ParseArgsConfig['options'];
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new errors.Usage(`tenantd ${name}: ${(error as Error).message}`);
  }
  if (parsed.values.help) {
    process.stdout.write(`${commandHelp(name, command)}\n`);
    return 0;
  }
  return command.run(parsed.values as Record<string, unknown>, parsed.positionals);
}

export async function run(argv: string[]): Promise<void> {
  try {
    process.exitCode = await main(argv);
  } catch (error) {
    if (error instanceof TenantdError) {
      process.stderr.write(`tenantd: ${error.message}\n`);
      process.exitCode = error instanceof errors.Usage ? 2 : 1;
    } else if (sqlStateOf(error) !== undefined) {
      // A refusal from PostgreSQL: its message is the useful part.
      process.stderr.write(`tenantd: database error: ${(error as Error).message} (SQLSTATE ${sqlStateOf(error)})\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`tenantd: unexpected error: ${(error as Error)?.stack ?? String(error)}\n`);
      process.exitCode = 70;
    }
  }
}
