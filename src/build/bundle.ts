// Compiles a TypeScript or JavaScript entry and everything it imports into one
// plain-JavaScript ES module with esbuild, so that workers run no loader: a
// bundled worker starts in about a third of the time and half the memory of
// one under tsx (README: worker cost). Files are named by the hash of their
// content, so a changed source is a new file and a stale build is never served;
// building again is cheap (esbuild, tens of milliseconds), so every start and
// every reload builds.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build, type Message } from 'esbuild';
import { errors } from '../errors.ts';

/** Where bundles are written: one private folder per OS user. */
export const bundleDir = path.join(os.tmpdir(), `tenantd-bundles-${os.userInfo().uid}`);

/** esbuild's messages on one line: `/absolute/file:line:column: text; …`. */
function describe(messages: Message[]): string {
  return messages.map((m) => (m.location ? `${path.resolve(m.location.file)}:${m.location.line}:${m.location.column}: ${m.text}` : m.text)).join('; ');
}

/**
 * Bundles `entry` (with its node_modules) into `<bundleDir>/<name>-<hash>.mjs`
 * and returns that path. Throws TENANTD_BUILD_FAILED naming the file and line.
 */
export async function bundle(entry: string, name: string): Promise<string> {
  let output: Uint8Array;
  try {
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      write: false,
      logLevel: 'silent',
      // pg loads its optional native binding only when asked; ws its optional speedups.
      external: ['pg-native', 'bufferutil', 'utf-8-validate'],
      // CommonJS packages inside an ES module bundle still call require().
      banner: { js: "import { createRequire as __tenantdRequire } from 'node:module'; const require = __tenantdRequire(import.meta.url);" },
    });
    output = result.outputFiles[0]!.contents;
  } catch (error) {
    const failure = error as { errors?: Message[]; message: string };
    throw errors.buildFailed(path.basename(entry), failure.errors?.length ? describe(failure.errors) : failure.message);
  }
  const hash = createHash('sha256').update(output).digest('hex').slice(0, 16);
  const file = path.join(bundleDir, `${name}-${hash}.mjs`);
  if (!existsSync(file)) {
    mkdirSync(bundleDir, { recursive: true, mode: 0o700 });
    // Written aside, then renamed: a worker never imports half a file.
    const partial = `${file}.${process.pid}.tmp`;
    writeFileSync(partial, output, { mode: 0o600 });
    renameSync(partial, file);
  }
  return file;
}
