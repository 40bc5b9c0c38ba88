// The tables tenantd keeps in schemas for itself: never copied as data (a
// target makes its own), never compared as structure.
import { migrationTable } from '../db/migration-files.ts';
import { registryTable } from '../db/registry.ts';
import { certificateTables } from '../db/certificate-store.ts';
import { placementTable } from '../db/placement.ts';

/** In public while a restore of a whole backup is under way (restore-database.ts). */
export const restoreMarkerTable = 'tenantd_restoring';

export const ownTables: ReadonlySet<string> = new Set([migrationTable, `${migrationTable}_lock`, registryTable, placementTable, restoreMarkerTable, ...Object.values(certificateTables)]);
