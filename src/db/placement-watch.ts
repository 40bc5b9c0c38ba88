// Follows placement changes other nodes make: LISTEN on the default server for
// what a move announces (move-lock.ts), and a read of the whole table
// every few seconds besides, for a change made while this node was not
// listening (its connection lost, a command run with no service).
import pg from 'pg';
import { placementChannel } from './move-lock.ts';
import { readPlacement, type Placement } from './placement.ts';

/** ms between reads of the whole table. */
const pollInterval = 5000;

export class PlacementWatch {
  readonly #url: string;
  readonly #changed: (schema: string) => void;
  readonly #read: (placement: Map<string, Placement>) => void;
  #client: pg.Client | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  /** `changed`: a schema a node announced; `read`: the whole table, every few seconds. */
  constructor(defaultUrl: string, changed: (schema: string) => void, read: (placement: Map<string, Placement>) => void) {
    this.#url = defaultUrl;
    this.#changed = changed;
    this.#read = read;
  }

  start(): void {
    void this.#listen();
    this.#timer = setInterval(() => void this.#poll(), pollInterval);
    this.#timer.unref();
  }

  async #listen(): Promise<void> {
    if (this.#stopped) return;
    const client = new pg.Client({ connectionString: this.#url, connectionTimeoutMillis: 2000 });
    client.on('notification', (message) => { if (message.payload) this.#changed(message.payload); });
    client.on('error', () => {
      if (this.#client === client) this.#client = undefined;
    });
    try {
      await client.connect();
      await client.query(`listen ${placementChannel}`);
      // Stopped meanwhile: this connection must not keep the process alive.
      if (this.#stopped) return void (await client.end().catch(() => {}));
      this.#client = client;
    } catch {
      await client.end().catch(() => {});
    }
  }

  async #poll(): Promise<void> {
    if (!this.#client) await this.#listen();
    const client = this.#client;
    if (!client) return;
    try {
      this.#read(await readPlacement(client));
    } catch {
      // The next poll tries again.
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#client?.end().catch(() => {});
    this.#client = undefined;
  }
}
