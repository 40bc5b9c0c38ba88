// Reads tenantd.yaml (and tenantsDir), validates it as a whole and returns it
// frozen. Every problem is reported with its file, line and key path.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDocument, LineCounter, isMap, isPair, isScalar, type Document, type Node } from 'yaml';
import type { ZodIssue, ZodType, ZodTypeDef } from 'zod';
import { configSchema, tenantSchema, type RawConfig, type RawTenant } from './config-schema.ts';
import type { Config, DatabaseServer, Site } from './config.ts';
import { errors } from '../base/errors.ts';
import { projectRoot } from '../base/project-root.ts';
import { deepFreeze } from './deep-freeze.ts';

export const defaultConfigFile = 'config/tenantd.yaml';
/** Bytes of one config file: a thousand tenants inline take about 150 KiB. */
export const maxConfigFileBytes = 4 * 1024 * 1024;
/** YAML aliases one file may expand: enough for shared settings, not for a "billion laughs" file. */
const maxAliasCount = 100;
export const demoApp = path.join(projectRoot, 'src', 'demo', 'app.ts');

type KeyPath = readonly (string | number)[];

/** One parsed YAML file, able to say on which line a key path stands. */
class Source {
  readonly file: string;
  readonly label: string;
  readonly doc: Document.Parsed;
  readonly #lines = new LineCounter();

  constructor(file: string, label: string) {
    this.file = file;
    this.label = label;
    let text: string;
    try {
      const size = statSync(file).size;
      if (size > maxConfigFileBytes) throw Object.assign(new Error(), { code: `${size} bytes, over the limit of ${maxConfigFileBytes}` });
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new errors.ConfigUnreadable(label, (error as NodeJS.ErrnoException).code ?? String(error));
    }
    this.doc = parseDocument(text, { lineCounter: this.#lines, prettyErrors: false, uniqueKeys: true });
  }

  syntaxProblems(): string[] {
    return this.doc.errors.map((e) => `${this.label}:${this.#lines.linePos(e.pos[0]).line} — ${e.message.split('\n')[0]}`);
  }

  /** The line of the deepest node on `keyPath` that exists; the key's own line for unknown keys. */
  lineOf(keyPath: KeyPath, key?: string): number {
    let node: unknown = this.doc.contents;
    let offset = (node as Node | null)?.range?.[0] ?? 0;
    for (const step of [...keyPath, ...(key === undefined ? [] : [key])]) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === step);
        if (!pair) break;
        offset = (pair.key as Node).range?.[0] ?? offset;
        node = pair.value;
        if (step !== key) offset = (node as Node | null)?.range?.[0] ?? offset;
      } else if (node && typeof node === 'object' && 'items' in node && typeof step === 'number') {
        node = (node as { items: unknown[] }).items[step];
        offset = (node as Node | undefined)?.range?.[0] ?? offset;
      } else break;
    }
    return this.#lines.linePos(offset).line;
  }

  problem(keyPath: KeyPath, message: string, key?: string): string {
    const shown = formatPath(key === undefined ? keyPath : [...keyPath, key]);
    return `${shown || '(top level)'} at ${this.label}:${this.lineOf(keyPath, key)} — ${message}`;
  }
}

function formatPath(keyPath: KeyPath): string {
  return keyPath.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
}

function describe(issue: ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.received === 'undefined' ? `missing; expected ${issue.expected}` : `expected ${issue.expected}, got ${issue.received}`;
    case 'invalid_union':
      return describe(issue.unionErrors[0]?.issues[0] ?? issue);
    case 'invalid_enum_value':
      return `expected one of ${issue.options.join(', ')}, got ${JSON.stringify(issue.received)}`;
    default:
      return issue.message.replace(/^Expected/, 'expected');
  }
}

function validate<T>(source: Source, schema: ZodType<T, ZodTypeDef, unknown>, value: unknown, problems: string[], prefix: KeyPath = []): T | undefined {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  for (const issue of result.error.issues) {
    const at = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) problems.push(source.problem(at, 'unknown key', key));
    } else {
      problems.push(source.problem(at, describe(issue)));
    }
  }
  return undefined;
}

function readSource(source: Source, problems: string[]): unknown {
  const syntax = source.syntaxProblems();
  if (syntax.length > 0) {
    problems.push(...syntax);
    return undefined;
  }
  try {
    return source.doc.toJS({ maxAliasCount }) ?? {};
  } catch (error) {
    // yaml refuses an alias bomb with a ReferenceError: a problem in the file, not a crash.
    problems.push(`${source.label} — ${(error as Error).message.split('\n')[0]} (at most ${maxAliasCount} alias expansions)`);
    return undefined;
  }
}

interface Located { spec: Site; source: Source; at: KeyPath }

/** A site's worker bounds: its own min/max (or the former `processes`), else the service's. */
interface Scale { min: number; max: number }

function scaleOf(own: { min?: number | undefined; max?: number | undefined; processes?: number | undefined }, defaults: Scale): Scale {
  if (own.processes !== undefined) return { min: own.processes, max: own.processes };
  const min = own.min ?? defaults.min;
  return { min, max: Math.max(own.max ?? defaults.max, min, 1) };
}

function toSpec(raw: RawTenant, defaults: Scale): Site {
  return Object.freeze({
    schema: raw.schema,
    name: raw.name ?? raw.schema,
    hosts: Object.freeze([...raw.hosts]),
    settings: Object.freeze({ ...raw.settings }),
    allowTrace: raw.allowTrace,
    ...(raw.database === undefined ? {} : { database: raw.database }),
    ...scaleOf(raw, defaults),
  });
}

/**
 * Resident bytes of one idle demo worker, measured (bundled, no loader: 55-67 MiB);
 * the default workers.maxLive is what three quarters of the memory holds at that size.
 */
const workerResidentBytes = 64 * 1024 * 1024;

/** The former `processes` may not stand beside the keys that replaced it. */
function checkScaleKeys(source: Source, at: KeyPath, own: { min?: number | undefined; max?: number | undefined; processes?: number | undefined }, problems: string[]): void {
  if (own.processes !== undefined && (own.min !== undefined || own.max !== undefined)) {
    problems.push(source.problem(at, '"processes" was replaced by "min" and "max" (processes: N is min: N, max: N); give one or the other', 'processes'));
  }
  if (own.min !== undefined && own.max !== undefined && own.max < own.min) problems.push(source.problem(at, `max (${own.max}) is below min (${own.min})`, 'max'));
}

/**
 * Loads and validates the config at `file`. Throws TENANTD_CONFIG_INVALID listing
 * every problem found, so an operator fixes them in one pass.
 */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const absolute = path.resolve(file);
  const dir = path.dirname(absolute);
  const main = new Source(absolute, path.basename(absolute));
  const problems: string[] = [];
  const value = readSource(main, problems);
  if (value === undefined) throw new errors.ConfigInvalid(problems);
  const raw = validate(main, configSchema, value, problems);
  if (!raw) throw new errors.ConfigInvalid(problems);

  checkScaleKeys(main, ['workers'], raw.workers, problems);
  const scale = scaleOf(raw.workers, { min: 1, max: 1 });
  raw.tenants.forEach((t, i) => checkScaleKeys(main, ['tenants', i], t, problems));
  const located: Located[] = raw.tenants.map((t, i) => ({
    spec: toSpec(t, scale), source: main, at: ['tenants', i],
  }));

  const tenantsDir = raw.tenantsDir === undefined ? undefined : path.resolve(dir, raw.tenantsDir);
  if (tenantsDir !== undefined) {
    let names: string[] = [];
    try {
      if (!statSync(tenantsDir).isDirectory()) throw Object.assign(new Error(), { code: 'ENOTDIR' });
      names = readdirSync(tenantsDir).filter((n) => /\.ya?ml$/.test(n)).sort();
    } catch (error) {
      problems.push(main.problem(['tenantsDir'], `cannot read folder ${raw.tenantsDir}: ${(error as NodeJS.ErrnoException).code}`));
    }
    for (const name of names) {
      const source = new Source(path.join(tenantsDir, name), path.join(path.basename(tenantsDir), name));
      const value = readSource(source, problems);
      const tenant = value === undefined ? undefined : validate(source, tenantSchema, value, problems);
      if (tenant) checkScaleKeys(source, [], tenant, problems);
      if (tenant) located.push({ spec: toSpec(tenant, scale), source, at: [] });
    }
  }

  const site = raw.public && Object.freeze({
    schema: 'public', name: raw.public.name, hosts: Object.freeze([...raw.public.hosts]),
    settings: Object.freeze({ ...raw.public.settings }), allowTrace: raw.public.allowTrace, ...scale,
  });
  checkUnique(located, site, problems);

  // Files the service will need: missing ones fail here, like `nginx -t`, not in a worker.
  const app = raw.app === undefined ? demoApp : path.resolve(dir, raw.app);
  const appDir = path.dirname(app);
  if (!isFile(app)) problems.push(main.problem(['app'], `no file ${raw.app}: expected the application module (.ts or .js)`));
  for (const key of ['shared', 'tenant'] as const) {
    const folder = raw.migrations[key];
    if (folder !== undefined && !isDirectory(path.resolve(dir, folder))) {
      problems.push(main.problem(['migrations', key], `no folder ${folder}: expected a folder of migration files`));
    }
  }
  if (raw.tls?.defaultTenant !== undefined && !located.some((l) => l.spec.schema === raw.tls!.defaultTenant)) {
    problems.push(main.problem(['tls', 'defaultTenant'], `no tenant ${raw.tls.defaultTenant}: expected the schema of a configured tenant`));
  }
  const url = env.TENANTD_DATABASE_URL || raw.database.url;
  const dataDir = path.resolve(dir, raw.database.dataDir ?? 'data');
  const databases = serversOf(main, raw, dir, { name: 'default', url, dataDir, port: raw.database.port }, problems);
  for (const { spec, source, at } of located) {
    if (spec.database !== undefined && !databases.some((d) => d.name === spec.database)) {
      problems.push(source.problem([...at, 'database'], `no database server "${spec.database}": expected default or a name under databases (${databases.map((d) => d.name).join(', ')})`));
    }
  }
  if (problems.length > 0) throw new errors.ConfigInvalid(problems);

  const { processes: _former, min: _min, max: _max, ...workers } = raw.workers;
  return deepFreeze({
    file: absolute,
    listen: raw.listen,
    admin: raw.admin,
    adminToken: env.TENANTD_ADMIN_TOKEN || raw.adminToken,
    database: {
      ...raw.database,
      url,
      dataDir,
      secretFile: raw.database.secretFile === undefined ? path.join(dataDir, 'credentials.secret') : path.resolve(dir, raw.database.secretFile),
    },
    databases,
    placement: raw.placement,
    app,
    migrations: {
      shared: raw.migrations.shared === undefined ? path.join(appDir, 'migrations', 'shared') : path.resolve(dir, raw.migrations.shared),
      tenant: raw.migrations.tenant === undefined ? path.join(appDir, 'migrations', 'tenant') : path.resolve(dir, raw.migrations.tenant),
      concurrency: raw.migrations.concurrency,
    },
    public: site,
    workers: {
      ...workers,
      ...scale,
      startConcurrency: workers.startConcurrency ?? os.availableParallelism(),
      maxLive: workers.maxLive ?? Math.max(1, Math.floor(os.totalmem() * 0.75 / workerResidentBytes)),
    },
    router: raw.router,
    tls: raw.tls && {
      ...raw.tls,
      certificates: raw.tls.certificates.map((c) => ({ cert: path.resolve(dir, c.cert), key: path.resolve(dir, c.key) })),
      acme: raw.tls.acme && { ...raw.tls.acme, caRoot: raw.tls.acme.caRoot === undefined ? undefined : path.resolve(dir, raw.tls.acme.caRoot) },
    },
    backup: raw.backup,
    moves: raw.moves,
    log: raw.log,
    tenants: located.map((l) => l.spec),
    tenantsDir,
  });
}

/** `default` (the database section's server) and each of `databases`, checked: a URL or a data folder of its own. */
function serversOf(main: Source, raw: RawConfig, dir: string, first: DatabaseServer, problems: string[]): DatabaseServer[] {
  const servers = [first];
  for (const [name, entry] of Object.entries(raw.databases)) {
    const at = ['databases', name];
    if (name === 'default') {
      problems.push(main.problem(at, 'the default server is the `database` section: name the other servers here'));
      continue;
    }
    if (entry.url !== undefined && (entry.dataDir !== undefined || entry.port !== undefined)) {
      problems.push(main.problem(at, 'give url (a server of yours) or dataDir and port (an embedded one), not both'));
      continue;
    }
    if (entry.url === undefined && entry.dataDir === undefined) {
      problems.push(main.problem(at, 'expected url, or dataDir for an embedded server'));
      continue;
    }
    const server: DatabaseServer = { name, url: entry.url, dataDir: entry.url === undefined ? path.resolve(dir, entry.dataDir!) : '', port: entry.port };
    const same = servers.find((s) => server.url === undefined ? s.url === undefined && s.dataDir === server.dataDir : s.url === server.url);
    if (same) problems.push(main.problem(at, `the same server as ${same.name}`));
    else servers.push(server);
  }
  return servers;
}

/** Two tenants may not share a schema, and no host name may be claimed twice. */
function checkUnique(located: Located[], site: Site | undefined, problems: string[]): void {
  const schemas = new Map<string, Located>();
  const hosts = new Map<string, string>();
  if (site) for (const host of site.hosts) hosts.set(host, 'the public site');
  for (const entry of located) {
    const { spec, source, at } = entry;
    const first = schemas.get(spec.schema);
    if (first) {
      problems.push(source.problem([...at, 'schema'], `schema "${spec.schema}" is already used at ${first.source.label}:${first.source.lineOf([...first.at, 'schema'])}`));
      continue;
    }
    schemas.set(spec.schema, entry);
    spec.hosts.forEach((host, i) => {
      const owner = hosts.get(host);
      if (owner !== undefined) problems.push(source.problem([...at, 'hosts', i], `host "${host}" is already claimed by ${owner}`));
      else hosts.set(host, `tenant ${spec.schema}`);
    });
  }
}

function isFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function isDirectory(folder: string): boolean {
  try {
    return statSync(folder).isDirectory();
  } catch {
    return false;
  }
}
