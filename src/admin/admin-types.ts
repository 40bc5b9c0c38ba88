// The admin API's wire contract: what /readyz, /status and /reload answer, as
// the metrics and the CLI read it. The API serves it, so it owns it; the
// service fills it in.
import type { GroupState, WorkerStatus } from '../supervisor/worker-types.ts';
import type { AcmeHostState } from '../acme/certificate-manager.ts';

export interface SiteStatus {
  schema: string;
  hosts: readonly string[];
  /** The database server it is served from. */
  server: string;
  /** A move to another server under way (tenants move): its target and phase. */
  move?: { to: string; phase: string };
  state: GroupState;
  /** Why the site is not ready, when it is not. */
  error?: string;
  workers: WorkerStatus[];
  /** With tls configured: each host's certificate, or why it has none. */
  certificates?: HostCertificate[];
}

/** A host's certificate as /status shows it: its file (null for ACME's) and expiry, or null for both (HTTPS handshakes for it are refused). */
export interface HostCertificate {
  host: string;
  file: string | null;
  /** ISO 8601. */
  expires: string | null;
  /** For a host ACME keeps certified (tls.acme): where it stands. */
  acme?: AcmeHostState;
}

/** The service as a whole, for `tenantd status` (its tenants are listed beside it). */
export interface ServiceSummary {
  /** Tenants (and the public site) by state. */
  sites: Partial<Record<GroupState, number>>;
  liveWorkers: number;
  /** The cap in force: workers.maxLive, or lower when the connection budget allows fewer. */
  maxLive: number;
  /** Each database server, `default` first: reachable or not, its tenants' connections against its budget. */
  databases: { name: string; up: boolean; reason?: string; tenants: number; connections: number; budget: number; serverMaxConnections: number; orphanSlots: string[] }[];
  /** Resident bytes of the primary and every worker. */
  residentBytes: number;
}

/** What /readyz answers: ready, or every reason it is not. */
export interface Readiness {
  ready: boolean;
  /** `<schema>: <reason>` per site that is not ready, and the database's state. */
  notReady: string[];
}

export type ReloadResult =
  | {
    ok: true;
    added: string[];
    removed: string[];
    changed: string[];
    unchanged: string[];
    /** Sites whose new workers could not start: added ones answer 503, changed ones keep their old workers. */
    failed: { schema: string; error: string }[];
    /** Changed keys that only a restart applies. */
    restartRequired: string[];
    /** Tenants whose entry names another database server than the one they live on: one line each, pointing at `tenantd tenants move`. */
    warnings?: string[];
  }
  /** A rejected reload: the running config stays. `code` and `statusCode` are the error's (TENANTD_CONFIG_INVALID, 422, say). */
  | { ok: false; code: string; statusCode: number; error: string };

/** What POST /clone answers: the new tenant made from the template, written to tenantsDir and served; or why not. */
export type CloneResult =
  | { ok: true; schema: string; rows: number; file: string; ms: number }
  | { ok: false; code: string; statusCode: number; error: string };

/** POST /clone's query: the template, the new schema, its hosts (repeated) and display name. */
export interface CloneRequest {
  from: string;
  to: string;
  hosts: string[];
  name?: string | undefined;
}

/** What POST /certificates/renew?host=H answers: where the host stands after the order (or the wait for it) ended, or why no order was made. */
export type RenewResult =
  | ({ ok: true; host: string } & AcmeHostState)
  | { ok: false; code: string; statusCode: number; error: string };

/** POST /move's query: the tenant, the server to move it to, offline (the copy engine, tenant paused) or online; or abort a move under way. */
export interface MoveRequest {
  tenant: string;
  to?: string | undefined;
  offline?: boolean;
  abort?: boolean;
}

/** What POST /move answers: where the tenant went, how long the copy took and its requests were held; or why not (it stays where it was). */
export type MoveResult =
  | { ok: true; schema: string; from: string; to: string; mode: 'online' | 'offline'; copyMs: number; startMs: number; pauseMs: number; held: number; rows: number }
  | { ok: true; schema: string; aborted: true; server: string }
  | { ok: false; code: string; statusCode: number; error: string };

/** What POST /restart?tenant=S answers: the site's workers replaced, or why not. */
export type RestartResult =
  | { ok: true; restarted: string }
  | { ok: false; code: string; statusCode: number; error: string };
