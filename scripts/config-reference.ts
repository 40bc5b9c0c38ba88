// Generates the configuration reference (docs/configuration.md) and the JSON
// Schema editors check tenantd.yaml with (docs/tenantd.schema.json), both from
// the zod schema in src/config/config-schema.ts, so neither can drift from what
// the loader accepts. `npm run docs` writes them; test/config-reference.test.ts
// fails when the files on disk are not what this generates.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z, type ZodTypeAny } from 'zod';
import { zodToJsonSchema } from 'zod-to-json-schema';
import { address, configSchema, duration, hostName, size, tenantSchema } from '../src/config/config-schema.ts';
import { everyWorkerKeys, keyIn, restartKeys } from '../src/config/config-diff.ts';

const root = path.resolve(import.meta.dirname, '..');
export const referenceFile = path.join(root, 'docs', 'configuration.md');
export const schemaFile = path.join(root, 'docs', 'tenantd.schema.json');

/** The JSON Schema of tenantd.yaml (and of one tenantsDir file: a `tenants` entry). */
export function jsonSchema(): string {
  const schema = zodToJsonSchema(configSchema, { effectStrategy: 'input', $refStrategy: 'none', target: 'jsonSchema7' });
  const titled = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'tenantd.yaml',
    description: 'The tenantd configuration file. Generated from src/config/config-schema.ts by npm run docs; see docs/configuration.md.',
    ...Object.fromEntries(Object.entries(schema).filter(([key]) => key !== '$schema')),
  };
  return `${JSON.stringify(titled, null, 2)}\n`;
}

interface Row { key: string; type: string; default: string; reload: string; description: string }

/** The value type of a zod node, in words a config author reads. */
function typeOf(node: ZodTypeAny): string {
  if (node === duration) return 'duration (ms, or "500ms", "30s", "5m", "1h", "7d")';
  if (node === size) return 'size (bytes, or "512k", "1m", "1g")';
  if (node === address) return 'address ("host:port", ":port", port)';
  if (node instanceof z.ZodDefault || node instanceof z.ZodOptional) return typeOf(node._def.innerType);
  if (node instanceof z.ZodEffects) return typeOf(node._def.schema);
  if (node instanceof z.ZodArray) return node.element === hostName ? 'list of host names' : node.element === tenantSchema ? 'list of tenants' : `list of ${typeOf(node.element)}`;
  if (node instanceof z.ZodEnum) return (node.options as string[]).map((o) => `\`${o}\``).join(', ');
  if (node instanceof z.ZodNumber) return node.isInt ? 'integer' : 'number';
  if (node instanceof z.ZodString) return 'string';
  if (node instanceof z.ZodBoolean) return 'boolean';
  if (node instanceof z.ZodRecord) return 'map';
  if (node instanceof z.ZodObject) return 'section';
  return 'value';
}

function defaultOf(node: ZodTypeAny): string {
  if (node instanceof z.ZodDefault) {
    const value: unknown = node._def.defaultValue();
    if (typeof value === 'object' && value !== null && Object.keys(value).length === 0) return '';
    return `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``;
  }
  if (node instanceof z.ZodOptional) return defaultOf(node._def.innerType);
  return '';
}

function objectOf(node: ZodTypeAny): z.AnyZodObject | undefined {
  if (node instanceof z.ZodObject) return node;
  if (node instanceof z.ZodDefault || node instanceof z.ZodOptional) return objectOf(node._def.innerType);
  return undefined;
}

/** What a reload does with a change of `key`. */
function reloadOf(key: string, site: boolean): string {
  if (restartKeys.includes(key)) return 'restart';
  if (site) return 'reload: that site\'s workers are replaced';
  if (key === 'workers.startConcurrency') return 'reload';
  if (key === 'database.secretFile') return 'reload: a new secret replaces every worker';
  if (keyIn(everyWorkerKeys, key)) return 'reload: every worker is replaced';
  return 'reload';
}

function rows(node: z.AnyZodObject, prefix: string, site: boolean): Row[] {
  const out: Row[] = [];
  for (const [name, child] of Object.entries(node.shape) as [string, ZodTypeAny][]) {
    const key = `${prefix}${name}`;
    const inner = objectOf(child);
    out.push({ key, type: typeOf(child), default: defaultOf(child), reload: inner ? '' : reloadOf(key, site), description: child.description ?? '' });
    if (inner) out.push(...rows(inner, `${key}.`, site || name === 'public'));
  }
  return out;
}

const cell = (text: string) => text.replaceAll('|', '\\|');

function table(list: Row[]): string {
  const head = '| key | type | default | on change | |\n|---|---|---|---|---|\n';
  return head + list.map((r) => `| \`${r.key}\` | ${cell(r.type)} | ${r.default} | ${r.reload} | ${cell(r.description)} |`).join('\n');
}

/** docs/configuration.md. */
export function reference(): string {
  return `<!-- Generated from src/config/config-schema.ts by \`npm run docs\`: edit the schema, not this file. -->
# Configuration reference

tenantd reads one YAML file (default \`config/tenantd.yaml\`; \`-c FILE\` for
another) and, if \`tenantsDir\` names a folder, one file per tenant in it.
Unknown keys are errors. Every problem is reported at once with its file, line
and key; \`tenantd check\` validates a file without starting anything.

A config file may be at most 4 MiB and expand at most 100 YAML aliases; a
reload reads and validates it in a worker thread, so routing never waits for it.
Relative paths are relative to the config file's folder. Durations are
milliseconds or a number with \`ms\`, \`s\`, \`m\`, \`h\` or \`d\`; sizes are bytes or a
number with \`k\`, \`m\` or \`g\` (binary, as nginx). Environment variables:
\`TENANTD_DATABASE_URL\` overrides \`database.url\`, \`TENANTD_ADMIN_TOKEN\`
overrides \`adminToken\`.

**On change** says what \`tenantd reload\` (or SIGHUP) does with a changed value:
applied in place (*reload*), applied by replacing workers without a failed
request, or kept until the next start (*restart*; the reload result lists it).

Editors that read \`# yaml-language-server: $schema=…\` comments (VS Code's
YAML extension, for one) complete and check keys from
[\`tenantd.schema.json\`](tenantd.schema.json), generated from the same schema.

## tenantd.yaml

${table(rows(configSchema, '', false))}

## A tenant

An entry of \`tenants\`, or one file in \`tenantsDir\` (the same keys).

${table(rows(tenantSchema, '', true))}
`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(referenceFile, reference());
  writeFileSync(schemaFile, jsonSchema());
  console.log(`wrote ${path.relative(root, referenceFile)}, ${path.relative(root, schemaFile)}`);
}
