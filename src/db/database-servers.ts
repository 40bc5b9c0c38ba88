// Every database server tenantd places tenants on, open: each one's admin
// target and provisioner (roles named, and passwords derived, as on the
// default server, so a tenant is the same role everywhere), and the placement
// table on the default server that says which one serves each tenant.
import type { Config } from '../config/config.ts';
import { errors } from '../base/errors.ts';
import { openDatabase, type DatabaseHandle, type OpenDatabaseOptions } from './open-database.ts';
import { Provisioner } from './provisioner.ts';
import { createRegistry, registryTable } from './registry.ts';
import { assignServers, createPlacement, place, readPlacement, type Placement } from './placement.ts';
import type { Site } from '../config/config.ts';

export interface OpenServer {
  readonly name: string;
  readonly database: DatabaseHandle;
  readonly provisioner: Provisioner;
}

export class DatabaseServers {
  readonly list: readonly OpenServer[];

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
        return { name: server.name, database: handle, provisioner: Provisioner.forConfig(config.database, handle.adminUrl, defaultServer.provisioner.rolePrefix) };
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
    await this.preparePlacement();
    const first = assignServers(sites, await this.placement(), this.names, rule);
    if (first.unplaced.size === 0) return { servers: first.servers, warnings: first.warnings, recorded: await this.placement() };
    const recorded = await this.default.provisioner.withLock((c) => place(c, first.unplaced));
    const settled = assignServers(sites, recorded, this.names, rule);
    return { servers: settled.servers, warnings: settled.warnings, recorded };
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
