import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostTable, normalizeHost } from '../src/http/host-table.ts';

function table(): HostTable<string> {
  const t = new HostTable<string>();
  t.add('acme.example.test', 'acme-exact');
  t.add('*.acme.example.test', 'acme-wild');
  t.add('*.example.test', 'catch-all');
  t.add('*.eu.acme.example.test', 'acme-eu');
  return t;
}

test('an exact name beats a wildcard that also matches it', () => {
  assert.equal(table().lookup('acme.example.test'), 'acme-exact');
});

test('the longest matching wildcard wins, at any depth', () => {
  const t = table();
  assert.equal(t.lookup('shop.acme.example.test'), 'acme-wild');
  assert.equal(t.lookup('a.b.acme.example.test'), 'acme-wild');
  assert.equal(t.lookup('paris.eu.acme.example.test'), 'acme-eu');
  assert.equal(t.lookup('other.example.test'), 'catch-all');
});

test('a wildcard does not match its own suffix or an unrelated name', () => {
  const t = table();
  assert.equal(t.lookup('example.test'), undefined);
  assert.equal(t.lookup('eu.acme.example.test'), 'acme-wild');
  assert.equal(t.lookup('notacme.test'), undefined);
  assert.equal(t.lookup('xacme.example.test'), 'catch-all');
});

test('Host headers are matched case-insensitively, without port or one trailing dot', () => {
  assert.equal(normalizeHost('ACME.Example.Test'), 'acme.example.test');
  assert.equal(normalizeHost('acme.example.test:8080'), 'acme.example.test');
  assert.equal(normalizeHost('acme.example.test.'), 'acme.example.test');
  assert.equal(normalizeHost('acme.example.test.:80'), 'acme.example.test');
  assert.equal(normalizeHost('[::1]:8080'), '[::1]');
  assert.equal(table().lookup(normalizeHost('SHOP.ACME.example.test.:443')!), 'acme-wild');
});

test('malformed Host headers normalize to nothing', () => {
  for (const bad of ['', ' ', 'acme..example.test', 'user@acme.example.test', 'acme example', 'acme.test/x', 'a\u0000b', 'acme.test:port', 'x'.repeat(300), '..']) {
    assert.equal(normalizeHost(bad), undefined, JSON.stringify(bad));
  }
});

test('a name claimed twice is refused', () => {
  const t = table();
  assert.throws(() => t.add('acme.example.test', 'other'), /claimed twice/);
  assert.throws(() => t.add('*.example.test', 'other'), /claimed twice/);
});
