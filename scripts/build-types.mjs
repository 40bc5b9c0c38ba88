// Emits the declarations of tenantd's public API (src/index.ts and what it
// names) into dist/types, for applications that import 'tenantd' from
// TypeScript. Run by `npm install` (prepare). TypeScript is a development
// dependency: where it is not installed (npm ci --omit=dev on a server, which
// runs applications but compiles none against tenantd), this says so and skips.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  console.log('typescript is not installed: the API declarations (dist/types) are not built');
  process.exit(0);
}
const result = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.types.json')], { stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status ?? 1);
console.log('built dist/types');
