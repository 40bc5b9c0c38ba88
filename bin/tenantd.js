#!/usr/bin/env node
// Entry point: runs the primary compiled from src/ (dist/tenantd.mjs), built
// again first whenever a source changed, so no loader compiles on the fly.
import { ensureBuilt } from '../scripts/build.mjs';

let primary;
try {
  primary = await ensureBuilt();
} catch (error) {
  const reason = error.code === 'EACCES' || error.code === 'EROFS'
    ? `dist/ is older than src/ and cannot be written here (${error.code}); run \`npm run build\` as the owner of the checkout`
    : error.message;
  process.stderr.write(`tenantd: TENANTD_BUILD_FAILED: ${reason}\n`);
  process.exit(1);
}
const { run } = await import(primary);
await run(process.argv.slice(2));
