// Every database server tenantd places tenants on, open: each one's admin
// target and provisioner (roles named, and passwords derived, as on the
// default server, so a tenant is the same role everywhere), and the placement
// table on the default server that says which one serves each tenant.
import type { Config } from '../config/config.ts';
import { errors } from '../base/errors.ts';
import { openDatabase, type DatabaseHandle, type OpenDatabaseOptions } from './open-database.ts';
import { Provisioner } from './provisioner.ts';
import { createRegistry, readRegistry, registryTable } from './registry.ts';
import { assignServers, createPlacement, place, readPlacement, type Placement } from './placement.ts';
import type { Site } from '../config/config.ts';

export interface OpenServer {
  readonly name: string;
  readonly database: DatabaseHandle;
  readonly provisioner: Provisioner;
}

export class DatabaseServers {
  readonly list: readonly OpenServer[];
  /** preparePlacement, once per open: assign runs at every start, reload, restart and move. */
  #prepared: Promise<void> | undefined;

  private constructor(list: OpenServer[]) {
    this.list = list;
  }

  /**
   * Opens every server of `config`, the default first (embedded ones started
   * at once). One that cannot be opened closes those already open, and throws.
   */
  static async open(config: Config, options: (name: string) => OpenDatabaseOptions = () => ({})): Promise<DatabaseServers> {
    const [first, ...rest] = config.databases;
    const database = await openDatabase(first!, options(first!.name));
    const defaultServer: OpenServer = { name: first!.name, database, provisioner: Provisioner.forConfig(config.database, database.adminUrl) };
    const list = [defaultServer];
    try {
      const others = await Promise.all(rest.map(async (server) => {
        const handle = await openDatabase(server, options(server.name));
        return { name: server.name, database: handle, provisioner: Provisioner.forConfig(config.database, handle.adminUrl, defaultServer.provisioner) };
      }));
      list.push(...others);
    } catch (error) {
      await new DatabaseServers(list).close();
      throw error;
    }
    return new DatabaseServers(list);
  }

  get default(): OpenServer {
    return this.list[0]!;
  }

  get names(): string[] {
    return this.list.map((s) => s.name);
  }

  /** The open server named `name`; TENANTD_SERVER_UNKNOWN for a name the config has not. */
  get(name: string): OpenServer {
    const found = this.list.find((s) => s.name === name);
    if (!found) throw new errors.ServerUnknown(name, this.names.join(', '));
    return found;
  }

  /** The placement table (on the default server), made if missing. */
  preparePlacement(): Promise<void> {
    return this.default.provisioner.withLock(async (c) => {
      await createRegistry(c);
      await createPlacement(c, registryTable);
    });
  }

  /** Every tenant's placement, as recorded. */
  placement(): Promise<Map<string, Placement>> {
    return this.default.provisioner.withClient((c) => readPlacement(c));
  }

  /**
   * The server of each of `sites`: where it lives; a new one is placed now
   * (its entry's database, else `rule`) and recorded, unless another node
   * placed it first. `warnings`: entries that name another server than the
   * one their tenant lives on.
   */
  async assign(sites: readonly Site[], rule: Config['placement']): Promise<{ servers: Map<string, string>; warnings: string[]; recorded: Map<string, Placement> }> {
    this.#prepared ??= this.preparePlacement();
    this.#prepared.catch(() => { this.#prepared = undefined; });
    await this.#prepared;
    const first = assignServers(sites, await this.placement(), this.names, rule);
    if (first.unplaced.size === 0) return { servers: first.servers, warnings: first.warnings, recorded: await this.placement() };
    // A tenant with no placement whose data a server already has (a placement table restored
    // without it, say) is placed where its data is, not by the rule.
    const wanted = new Map(first.unplaced);
    for (const [schema, server] of await this.#holders([...wanted.keys()])) wanted.set(schema, server);
    const recorded = await this.default.provisioner.withLock((c) => place(c, wanted));
    const settled = assignServers(sites, recorded, this.names, rule);
    return { servers: settled.servers, warnings: settled.warnings, recorded };
  }

  /**
   * The server holding each of `schemas`' data, where one does: the one whose
   * registry has it; of several (a fenced copy a move left, and the live one),
   * the one whose role may log in.
   */
  async #holders(schemas: readonly string[]): Promise<Map<string, string>> {
    const found = new Map<string, { server: string; login: boolean }[]>();
    for (const server of this.list) {
      const rows = await server.provisioner.withClient(async (c) => {
        const registry = (await readRegistry(c)).filter((r) => schemas.includes(r.schema));
        if (registry.length === 0) return [];
        const logins = await c.query<{ rolname: string; rolcanlogin: boolean }>('select rolname, rolcanlogin from pg_roles where rolname = any($1)', [registry.map((r) => r.role)]);
        const can = new Map(logins.rows.map((r) => [r.rolname, r.rolcanlogin]));
        return registry.map((r) => ({ schema: r.schema, login: can.get(r.role) === true }));
      }).catch(() => []);
      for (const row of rows) found.set(row.schema, [...(found.get(row.schema) ?? []), { server: server.name, login: row.login }]);
    }
    const holders = new Map<string, string>();
    for (const [schema, where] of found) {
      const live = where.filter((w) => w.login);
      const chosen = live.length === 1 ? live[0] : where.length === 1 ? where[0] : undefined;
      if (chosen) holders.set(schema, chosen.server);
    }
    return holders;
  }

  async close(): Promise<void> {
    for (const server of [...this.list].reverse()) {
      await server.provisioner.close();
      await server.database.close();
    }
  }

  abandon(): void {
    for (const server of this.list) server.database.abandon();
  }
}
