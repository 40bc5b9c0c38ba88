// The error registry: every code tenantd emits is one entry, a constructor that
// `instanceof` and `code` both recognise, with the HTTP status the admin API uses.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { DatabaseUnavailableError, errorClassOf, errors, TenantdError } from '../src/base/errors.ts';

const src = path.resolve(import.meta.dirname, '../src');
/** Environment variables, not error codes. */
const envNames = new Set(['TENANTD_DATABASE_URL', 'TENANTD_ADMIN_TOKEN', 'TENANTD_CONFIG', 'TENANTD_SYSTEMD_NOTIFY', 'TENANTD_ROOT']);

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    return statSync(file).isDirectory() ? sources(file) : file.endsWith('.ts') ? [file] : [];
  });
}

test('every entry is a constructor with a unique TENANTD_ code and a 4xx/5xx status; instanceof and revive agree', () => {
  const codes = new Set<string>();
  for (const [name, Entry] of Object.entries(errors)) {
    assert.match(Entry.code, /^TENANTD_[A-Z_]+$/, name);
    assert.ok(!codes.has(Entry.code), `${Entry.code} twice`);
    codes.add(Entry.code);
    assert.ok(Entry.statusCode >= 400 && Entry.statusCode < 600, name);
    const revived = Entry.revive('what happened');
    assert.ok(revived instanceof Entry && revived instanceof TenantdError, name);
    assert.equal(revived.code, Entry.code);
    assert.equal(revived.statusCode, Entry.statusCode);
    assert.equal(errorClassOf(Entry.code), Entry);
  }
  const invalid = new errors.ConfigInvalid(['a', 'b']);
  assert.ok(invalid instanceof errors.ConfigInvalid);
  assert.equal(invalid instanceof errors.ConfigUnreadable, false);
  assert.equal(invalid.message, 'TENANTD_CONFIG_INVALID: 2 problems\n  a\n  b');
  assert.equal(invalid.statusCode, 422);
  assert.ok(new DatabaseUnavailableError('gone') instanceof errors.DatabaseUnavailable);
});

test('every TENANTD_ code written anywhere in src/ is in the registry', () => {
  const missing = new Set<string>();
  for (const file of sources(src)) {
    for (const [code] of readFileSync(file, 'utf8').matchAll(/TENANTD_[A-Z][A-Z_]*[A-Z]/g)) {
      if (!envNames.has(code) && errorClassOf(code) === undefined) missing.add(`${code} (${path.relative(src, file)})`);
    }
  }
  assert.deepEqual([...missing], []);
});
