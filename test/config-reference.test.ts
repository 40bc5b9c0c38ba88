// The configuration reference and the JSON Schema are generated from the zod
// schema the loader validates with: the files in docs/ must be what the
// generator makes now (run `npm run docs` after changing the schema).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { jsonSchema, reference, referenceFile, schemaFile } from '../scripts/config-reference.ts';
import { configSchema } from '../src/config/config-schema.ts';
import { restartKeys } from '../src/config/config-diff.ts';

const root = path.resolve(import.meta.dirname, '..');

test('docs/configuration.md and docs/tenantd.schema.json are current with the schema (npm run docs)', () => {
  assert.equal(readFileSync(referenceFile, 'utf8'), reference(), 'docs/configuration.md is stale: run npm run docs');
  assert.equal(readFileSync(schemaFile, 'utf8'), jsonSchema(), 'docs/tenantd.schema.json is stale: run npm run docs');
});

test('the reference lists every key of the schema with its description, and marks the restart-only keys', () => {
  const text = reference();
  const walk = (shape: Record<string, { description?: string; _def: { innerType?: unknown; shape?: () => Record<string, never> } }>, prefix: string): void => {
    for (const [name, node] of Object.entries(shape)) {
      const key = `${prefix}${name}`;
      const line = text.split('\n').find((l) => l.startsWith(`| \`${key}\` |`));
      assert.ok(line, `no row for ${key}`);
      assert.ok(node.description, `${key} has no description in the schema`);
      let inner: any = node;
      while (inner?._def?.innerType) inner = inner._def.innerType;
      if (typeof inner?._def?.shape === 'function') walk(inner._def.shape(), `${key}.`);
      else assert.equal(line.includes('| restart |'), restartKeys.includes(key), `${key}: restart marking`);
    }
  };
  walk(configSchema.shape as never, '');
});

// config/tenantd.yaml names it too, but users edit that file: no test reads it.
test('the example config names the JSON Schema for editors', () => {
  for (const file of ['examples/notes/tenantd.yaml']) {
    const first = readFileSync(path.join(root, file), 'utf8').split('\n')[0]!;
    const match = /^# yaml-language-server: \$schema=(\S+)$/.exec(first);
    assert.ok(match, `${file}: ${first}`);
    assert.equal(path.resolve(root, path.dirname(file), match[1]!), schemaFile, file);
  }
});
