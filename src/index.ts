// tenantd's public API: what an application and its migrations import from
// 'tenantd'. Everything else under src/ is internal.
export type { AppContext, AppFactory, AppSite } from './app/app-context.ts';
export type { MigrationContext, MigrationModule } from './app/migration-context.ts';
export { defineApp } from './app/define-app.ts';
export { DatabaseUnavailableError, TenantdError } from './base/errors.ts';
