// The repository's documentation stands on its own: every relative link in the
// README, docs/ and examples/ names a file or folder that exists, and no page
// sends the reader to documents outside the repository.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';

const root = path.resolve(import.meta.dirname, '..');
const pages = [
  'README.md',
  ...readdirSync(path.join(root, 'docs')).filter((n) => n.endsWith('.md')).map((n) => `docs/${n}`),
  ...readdirSync(path.join(root, 'examples')).map((n) => `examples/${n}/README.md`),
];

test('every relative link in the README, docs/ and examples/ resolves to a file in the repository', () => {
  assert.ok(pages.length >= 9, pages.join(', '));
  const broken: string[] = [];
  for (const page of pages) {
    const text = readFileSync(path.join(root, page), 'utf8');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!) || target!.startsWith('#')) continue;
      const file = path.resolve(root, path.dirname(page), target!.split('#')[0]!);
      if (!existsSync(file)) broken.push(`${page}: ${target}`);
      else if (!file.startsWith(`${root}${path.sep}`)) broken.push(`${page}: ${target} (outside the repository)`);
    }
    assert.doesNotMatch(text, /SPEC\.md|shared project documents/, `${page} points outside the repository`);
  }
  assert.deepEqual(broken, []);
});
