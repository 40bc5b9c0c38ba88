// The checkout's root folder: the nearest folder above this module that holds
// tenantd's package.json (the sources sit two levels below it, the compiled
// primary, dist/tenantd.mjs, one). A bundle built by src/build/bundle.ts
// (workers, the config thread) is told it at build time, since it runs from elsewhere.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

declare const __TENANTD_ROOT__: string | undefined;

function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'tenantd') return dir;
    if (path.dirname(dir) === dir) throw new Error(`no tenantd package.json above ${from}`);
  }
}

export const projectRoot: string = typeof __TENANTD_ROOT__ === 'string' ? __TENANTD_ROOT__ : findRoot(path.dirname(fileURLToPath(import.meta.url)));
