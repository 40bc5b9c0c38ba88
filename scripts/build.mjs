// Compiles the primary (the `tenantd` command) from src/ into dist/tenantd.mjs,
// and the public API an application imports ('tenantd') into dist/index.mjs,
// with esbuild, when the sources changed since the last build: a hash of every
// file under src/ is kept beside the output, so a changed source is never run
// from a stale build. `npm install` runs it (prepare); bin/tenantd.js runs it
// before each command (a few milliseconds when nothing changed).
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
export const primary = path.join(dist, 'tenantd.mjs');
/** Entry points under src/ and the files they become under dist/. */
const outputs = [
  ['cli/main.ts', primary],
  ['index.ts', path.join(dist, 'index.mjs')],
];
const stamp = path.join(dist, 'source-hash');

/** Hash of every file under src/ (names and contents) and of the lockfile. */
function sourceHash() {
  const hash = createHash('sha256');
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else hash.update(path.relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
    }
  };
  walk(path.join(root, 'src'));
  hash.update(readFileSync(path.join(root, 'package-lock.json')));
  return hash.digest('hex');
}

function built() {
  try {
    return readFileSync(stamp, 'utf8');
  } catch {
    return '';
  }
}

/** Builds dist/tenantd.mjs and dist/index.mjs unless they are current; returns the primary's path. */
export async function ensureBuilt() {
  const wanted = sourceHash();
  if (built() === wanted) return primary;
  const { build } = await import('esbuild');
  mkdirSync(dist, { recursive: true });
  for (const [entry, output] of outputs) {
    const partial = `${output}.${process.pid}.tmp`;
    try {
      await build({
        entryPoints: [path.join(root, 'src', entry)],
        outfile: partial,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        // Dependencies load from node_modules, as installed.
        packages: 'external',
        logLevel: 'silent',
      });
    } catch (error) {
      const first = error.errors?.[0];
      throw new Error(first?.location ? `${first.location.file}:${first.location.line}: ${first.text}` : error.message);
    }
    renameSync(partial, output);
  }
  writeFileSync(stamp, wanted);
  return primary;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await ensureBuilt();
  console.log(`built ${outputs.map(([, output]) => path.relative(root, output)).join(', ')}`);
}
