// The one check every schema name passes before it reaches SQL (as django-tenants'
// `_check_schema_name`): tenant schemas match one pattern, never a system schema.

export const schemaNamePattern = '^[a-z][a-z0-9_]{0,47}$';
const pattern = new RegExp(schemaNamePattern);

export function isTenantSchemaName(name: string): boolean {
  return pattern.test(name) && !name.startsWith('pg_') && name !== 'public';
}

/** A tenant schema or `public` (the public site). */
export function isSiteSchemaName(name: string): boolean {
  return name === 'public' || isTenantSchemaName(name);
}
