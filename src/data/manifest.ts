// What a backup file holds (its manifest), and what the copy engine carries of
// one schema: the migrations it had applied, its structure, and each table's
// rows with their count and checksum, as read in one snapshot.
import type { Catalog } from './catalog.ts';

/** Where a table's data lies in its archive (a file: bytes from `offset`; memory: the index). */
export interface SectionRef {
  offset: number;
  length: number;
  /** SHA-256 of the section's bytes as stored (hex); '' in memory. */
  sha256: string;
}

export interface TableCopy {
  name: string;
  /** The columns copied, in order (generated columns are computed, not copied). */
  columns: string[];
  rows: number;
  /**
   * Sum of hashtext() of every row's text, as a decimal string: the same rows
   * give the same sum in any order, on any server with the same session
   * settings (copy-session.ts).
   */
  checksum: string;
  section: SectionRef;
}

export interface SequenceCopy {
  name: string;
  /** pg_sequences.last_value at the copy (not max(id): values burned by rollbacks stay burned). */
  lastValue: string;
  isCalled: boolean;
}

/** A tenant's registry entry, as it was. */
export interface SiteEntry {
  name: string;
  hosts: string[];
  settings: Record<string, unknown>;
  inConfig: boolean;
  removedAt: string | null;
}

export interface SchemaCopy {
  schema: string;
  /** `shared`: public's shared tables (copied as the admin); `tenant`: a tenant's schema (as its role). */
  kind: 'shared' | 'tenant';
  /** The migrations the schema had applied, in order. */
  migrations: string[];
  catalog: Catalog;
  tables: TableCopy[];
  sequences: SequenceCopy[];
  /** A tenant's registry entry. */
  site?: SiteEntry;
}

export interface Manifest {
  /** The file format (backup-file.ts). */
  format: 1;
  /** tenantd's version that wrote it. */
  tenantd: string;
  /** The server's version (server_version). */
  server: string;
  /** When the snapshot was taken (ISO 8601): every schema is as it was at that instant. */
  snapshot: string;
  schemas: SchemaCopy[];
}
