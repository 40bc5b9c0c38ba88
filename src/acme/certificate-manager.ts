// Certificates that manage themselves: every host the service is given (the
// configured hosts no file covers) gets one by ACME, off the request path, and
// a new one at two thirds of its life. One node orders a given host at a time
// (the store's lock), and what any node issued every node serves: the store is
// read at start and every half minute. A failed order is tried again after a
// backoff (1 min, doubling, at most 6 h), and at most tls.acme.ordersPerHour
// orders start in any hour across the nodes. Orders run one at a time.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { errors } from '../base/errors.ts';
import type { Config } from '../config/config.ts';
import type { CertificateStore, StoredCertificate } from '../db/certificate-store.ts';
import type { CredentialsSecret } from '../db/credentials-secret.ts';
import { parseCertificate, type LoadedCertificate } from '../tls/certificates.ts';
import { alpnKey, oneLine, orderCertificate, type AcmeAccount } from './acme-order.ts';
import type { AlpnCertificate } from '../tls/alpn-challenge.ts';
import { open, seal } from './sealed-key.ts';

export type AcmeConfig = NonNullable<NonNullable<Config['tls']>['acme']>;

/** Where a host stands with ACME, as status and `tenantd certs list` show it. */
export interface AcmeHostState {
  /**
   * valid: served, renewed at renewAt; pending: no certificate yet, ordering
   * soon; ordering: an order under way on this node; failed: the last order
   * failed (error), next at nextTry; limited: waits for the hourly limit;
   * unsupported: a wildcard (needs DNS-01, which tenantd does not answer).
   */
  state: 'valid' | 'pending' | 'ordering' | 'failed' | 'limited' | 'unsupported';
  /** The last order's error, one line (also while an older certificate is still served). */
  error: string | null;
  /** ISO 8601: no order for it before this (after a failure). */
  nextTry: string | null;
  /** ISO 8601: when its certificate is renewed. */
  renewAt: string | null;
}

/** Order outcomes on this node since it started (metrics). */
export interface OrderOutcomes {
  issued: number;
  failed: number;
  /** Orders put off by the hourly limit. */
  limited: number;
}

/** When a certificate valid from `notBefore` to `notAfter` is renewed: at two thirds of its life. */
export function renewalTime(notBefore: number, notAfter: number): number {
  return notBefore + ((notAfter - notBefore) * 2) / 3;
}

/** The wait after the n-th consecutive failed order: 1 min, doubling, at most 6 h. */
export function orderBackoff(failures: number): number {
  return Math.min(60_000 * 2 ** Math.max(0, failures - 1), 6 * 3_600_000);
}

const pollInterval = 30_000;
const hourlyWarningEvery = 600_000;

export interface ManagerOptions {
  store: CertificateStore;
  secret: CredentialsSecret;
  log: Logger;
  /** The certificates issued changed (here or by another node): the whole list. */
  changed: (issued: readonly LoadedCertificate[]) => void;
}

export class CertificateManager {
  #config: AcmeConfig;
  #caRoot: string | undefined;
  readonly #options: ManagerOptions;
  /** Hosts to keep certified, in the order given. */
  #wanted: readonly string[] = [];
  /** The store's rows as last read. */
  readonly #rows = new Map<string, StoredCertificate>();
  /** Issued certificates by host, with the row time they were read from. */
  readonly #issued = new Map<string, { certificate: LoadedCertificate; from: number }>();
  /** What answers the challenges of this node's orders under way, by board key (the store has every node's). */
  readonly #tokens = new Map<string, string>();
  #ordering: string | undefined;
  #limited = false;
  #lastLimitWarning = 0;
  readonly outcomes: OrderOutcomes = { issued: 0, failed: 0, limited: 0 };
  /** Callers of renew() waiting for the end of the next check (which orders their host, or says why not). */
  #waiting: Array<() => void> = [];
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  #again = false;
  #closed = false;

  private constructor(config: AcmeConfig, options: ManagerOptions) {
    this.#config = config;
    this.#caRoot = readCaRoot(config);
    this.#options = options;
  }

  /** Creates the store's tables and reads what is issued (served at once), then orders what is missing. */
  static async start(config: AcmeConfig, options: ManagerOptions): Promise<CertificateManager> {
    const manager = new CertificateManager(config, options);
    await options.store.create();
    await manager.#refresh(false);
    return manager;
  }

  /** Throws TENANTD_ACME_CA_ROOT_INVALID when `config`'s caRoot cannot be read: what a reload checks before it applies anything. */
  static validate(config: AcmeConfig): void {
    readCaRoot(config);
  }

  /** A reload's tls.acme, once the reload is applied (validate() passed). */
  configure(config: AcmeConfig): void {
    const caRoot = readCaRoot(config);
    this.#config = config;
    this.#caRoot = caRoot;
  }

  /** The hosts to keep certified (start, each reload); their orders start soon. */
  want(hosts: readonly string[]): void {
    this.#wanted = [...new Set(hosts)];
    this.#soon();
  }

  /** Every certificate issued for a host of the store (wanted or not: a removed host's still covers it while it is served). */
  get issued(): LoadedCertificate[] {
    return [...this.#issued.values()].map((i) => i.certificate);
  }

  /** Whether `host` is one this manager keeps certified. */
  manages(host: string): boolean {
    return this.#wanted.includes(host);
  }

  /** Where `host` stands. */
  state(host: string, now = Date.now()): AcmeHostState {
    const row = this.#rows.get(host);
    const issued = this.#issued.get(host)?.certificate;
    const renewAt = issued ? new Date(renewalTime(issued.notBefore, issued.notAfter)).toISOString() : null;
    const nextTry = row?.nextTry && row.nextTry.getTime() > now ? row.nextTry.toISOString() : null;
    const base = { error: row?.lastError ?? null, nextTry, renewAt };
    if (host.startsWith('*.')) return { ...base, state: 'unsupported', error: 'a wildcard needs the DNS-01 challenge, which tenantd does not answer: give it a certificate file' };
    if (this.#ordering === host) return { ...base, state: 'ordering' };
    if (issued && issued.notAfter > now && !row?.renewRequested) return { ...base, state: 'valid' };
    if (nextTry) return { ...base, state: 'failed' };
    if (this.#limited) return { ...base, state: 'limited' };
    return { ...base, state: 'pending' };
  }

  /** The key authorization of an HTTP-01 token, from this node's orders or, for another node's, the store. */
  challenge(token: string): string | Promise<string | undefined> {
    // The database away: not one of tenantd's (the request goes on to the application).
    return this.#tokens.get(token) ?? this.#options.store.challenge(token).catch(() => undefined);
  }

  /** The TLS-ALPN-01 certificate of `host`, while an order (this node's or another's) has one. */
  async alpnChallenge(host: string): Promise<AlpnCertificate | undefined> {
    const key = alpnKey(host);
    const json = this.#tokens.get(key) ?? await this.#options.store.challenge(key).catch(() => undefined);
    return json === undefined ? undefined : JSON.parse(json) as AlpnCertificate;
  }

  /**
   * Orders a new certificate for `host` now, whatever its state (its backoff
   * lifted, the hourly limit still applies), and waits up to `timeout` ms for
   * the outcome on this node.
   */
  async renew(host: string, timeout: number): Promise<AcmeHostState> {
    await this.#options.store.requestRenewal(host);
    const outcome = new Promise<void>((resolve) => this.#waiting.push(resolve));
    let timer: NodeJS.Timeout | undefined;
    this.#soon();
    await Promise.race([outcome, new Promise<void>((resolve) => { timer = setTimeout(resolve, timeout); })]);
    clearTimeout(timer);
    return this.state(host);
  }

  /** Stops checking; an order under way is given a moment, not waited for (acme-client cannot cancel one: it fails, and is ordered again at the next start). */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#ticking, new Promise((resolve) => { timer = setTimeout(resolve, 2_000); })]);
    clearTimeout(timer);
    for (const resolve of this.#waiting.splice(0)) resolve();
  }

  /** Runs a check as soon as the one under way (if any) ends. */
  #soon(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    if (this.#ticking) {
      this.#again = true;
      return;
    }
    this.#timer = setTimeout(() => this.#tick(), 0);
  }

  #tick(): void {
    // Those waiting now are answered when this check ends: it reads their request.
    const waiting = this.#waiting.splice(0);
    this.#ticking = this.#check()
      .catch((error: unknown) => this.#options.log.warn({ err: error }, 'the certificate check failed; it runs again in 30 s'))
      .finally(() => {
        for (const resolve of waiting) resolve();
        this.#ticking = undefined;
        if (this.#closed) return;
        const again = this.#again;
        this.#again = false;
        this.#timer = setTimeout(() => this.#tick(), again ? 0 : pollInterval);
      });
  }

  /** One check: the store read again, then each due host ordered, in turn, while the hourly limit allows. */
  async #check(): Promise<void> {
    await this.#refresh(true);
    this.#limited = false;
    for (const host of this.#wanted) {
      if (this.#closed) return;
      if (!this.#due(host, Date.now())) continue;
      if ((await this.#options.store.ordersInLastHour()) >= this.#config.ordersPerHour) {
        this.#limited = true;
        this.outcomes.limited += 1;
        if (Date.now() - this.#lastLimitWarning > hourlyWarningEvery) {
          this.#lastLimitWarning = Date.now();
          this.#options.log.warn({ ordersPerHour: this.#config.ordersPerHour }, 'certificate orders wait: tls.acme.ordersPerHour orders started in the last hour');
        }
        return;
      }
      await this.#order(host);
    }
  }

  /** Whether `host` needs an order now: no certificate, one due for renewal or asked to be renewed, and no backoff running. */
  #due(host: string, now: number): boolean {
    if (host.startsWith('*.')) return false;
    const row = this.#rows.get(host);
    if (row?.nextTry && row.nextTry.getTime() > now) return false;
    if (row?.renewRequested) return true;
    const issued = this.#issued.get(host)?.certificate;
    return !issued || now >= renewalTime(issued.notBefore, issued.notAfter);
  }

  /** Orders `host` holding its lock (another node holding it is ordering it: skipped). */
  async #order(host: string): Promise<void> {
    const store = this.#options.store;
    const log = this.#options.log.child({ host });
    await store.whileOrdering(host, async (current) => {
      // Another node may have ordered it since the store was read.
      if (current) this.#absorb(current);
      if (!this.#due(host, Date.now())) return;
      await store.recordOrder(host);
      this.#ordering = host;
      log.info({ directory: this.#config.directory }, 'ordering a certificate');
      try {
        const stored = await store.account(this.#config.directory);
        const account: AcmeAccount | undefined = stored && { key: open(this.#options.secret, stored.key), url: stored.url };
        const issued = await orderCertificate(host, {
          directory: this.#config.directory,
          email: this.#config.email,
          eab: this.#config.eab,
          caRoot: this.#caRoot,
          challenges: this.#config.challenges,
          account,
          board: {
            put: async (key, value) => {
              this.#tokens.set(key, value);
              await store.putChallenge(key, value);
            },
            remove: async (key) => {
              this.#tokens.delete(key);
              await store.removeChallenge(key);
            },
          },
          debug: (message) => log.debug({ acme: message }, 'acme-client'),
        });
        if (!account) await store.saveAccount(this.#config.directory, { key: seal(this.#options.secret, issued.account.key), url: issued.account.url });
        // Checked as a file's would be before it is stored and served.
        const certificate = parseCertificate(issued.cert, issued.key, `ACME certificate of ${host}`);
        await store.issued(host, issued.cert, seal(this.#options.secret, issued.key));
        this.outcomes.issued += 1;
        log.info({ expires: new Date(certificate.notAfter).toISOString() }, 'certificate issued');
      } catch (error) {
        const failures = (current?.failures ?? 0) + 1;
        const next = new Date(Date.now() + orderBackoff(failures));
        await store.failed(host, oneLine(error), next);
        this.outcomes.failed += 1;
        log.warn({ error: oneLine(error), failures, nextTry: next.toISOString() }, 'certificate order failed');
      } finally {
        this.#ordering = undefined;
      }
    });
    await this.#refresh(true);
  }

  /** Reads every row of the store; a certificate new or replaced is taken in, and `changed` told (when `notify`). */
  async #refresh(notify: boolean): Promise<void> {
    let changed = false;
    for (const row of await this.#options.store.all()) changed = this.#absorb(row) || changed;
    if (changed || !notify) this.#options.changed(this.issued);
  }

  /** Takes in one row; true when its certificate is new here. */
  #absorb(row: StoredCertificate): boolean {
    this.#rows.set(row.host, row);
    const known = this.#issued.get(row.host);
    if (!row.cert || !row.key || known?.from === row.updatedAt.getTime()) return false;
    if (known && known.certificate.cert === row.cert) {
      known.from = row.updatedAt.getTime();
      return false;
    }
    try {
      const certificate = parseCertificate(row.cert, open(this.#options.secret, row.key), `the stored certificate of ${row.host}`);
      this.#issued.set(row.host, { certificate: { ...certificate, source: 'acme' }, from: row.updatedAt.getTime() });
      return true;
    } catch (error) {
      this.#options.log.error({ host: row.host, error: oneLine(error) }, 'a stored certificate cannot be used; it is ordered again');
      this.#rows.set(row.host, { ...row, cert: null, key: null });
      return false;
    }
  }
}

function readCaRoot(config: AcmeConfig): string | undefined {
  if (config.caRoot === undefined) return undefined;
  return parseCaRoot(config.caRoot);
}

/** The PEM text of tls.acme.caRoot; throws TENANTD_ACME_CA_ROOT_INVALID naming the file. */
function parseCaRoot(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new errors.AcmeCaRootInvalid(file, (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new errors.AcmeCaRootInvalid(file, 'not a PEM certificate');
  return text;
}
