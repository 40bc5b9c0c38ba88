// The one check every schema name passes before it reaches SQL (as django-tenants'
// `_check_schema_name`): tenant schemas match one pattern, never a system schema.
// The lengths come from PostgreSQL's identifiers: a tenant's role is named
// `<prefix><schema>`, and both must fit in one identifier.

/** PostgreSQL truncates identifiers to NAMEDATALEN - 1 = 63 bytes (silently: two long names could become one). */
export const maxIdentifierLength = 63;
/** Characters of a tenant schema name. */
export const maxSchemaNameLength = 48;
/**
 * Characters of a role prefix: what an identifier leaves beside the longest
 * schema name. A derived prefix is 14 characters of the database name and "_".
 */
export const maxRolePrefixLength = maxIdentifierLength - maxSchemaNameLength;
/** A configured database.rolePrefix: one character fewer, so that `<prefix>_shared` and `<prefix>_public` stay apart from every `<prefix><schema>`. */
export const rolePrefixPattern = `^[a-z][a-z0-9_]{0,${maxRolePrefixLength - 2}}$`;

export const schemaNamePattern = `^[a-z][a-z0-9_]{0,${maxSchemaNameLength - 1}}$`;
const pattern = new RegExp(schemaNamePattern);

export function isTenantSchemaName(name: string): boolean {
  return pattern.test(name) && !name.startsWith('pg_') && name !== 'public';
}

/** A tenant schema or `public` (the public site). */
export function isSiteSchemaName(name: string): boolean {
  return name === 'public' || isTenantSchemaName(name);
}

/**
 * A schema a restore makes beside a tenant's (`<schema>$restoring$<time>`) or
 * leaves (`<schema>$replaced$<time>`): `$` is in no tenant's name, so none can
 * be mistaken for a tenant.
 */
export const sideSchemaPattern = `^[a-z][a-z0-9_]{0,${maxSchemaNameLength - 1}}\\$(restoring|replaced)\\$[0-9]{8}T[0-9]{6}$`;
const side = new RegExp(sideSchemaPattern);

export function isSideSchemaName(name: string): boolean {
  return side.test(name);
}
