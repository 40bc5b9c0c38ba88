// Fails when the modules under src/ import each other in a circle: types flow
// one way. Reads every import and export-from of every .ts file (type-only ones
// too: a type circle is still a circle in the design) and prints each cycle.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..', 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? files(full) : name.endsWith('.ts') ? [full] : [];
  });
}

const specifier = /(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s*['"](\.[^'"]+)['"]/g;
const graph = new Map<string, string[]>();
for (const file of files(root)) {
  const text = readFileSync(file, 'utf8');
  graph.set(file, [...text.matchAll(specifier)].map((m) => path.resolve(path.dirname(file), m[1]!)).filter((f) => f.startsWith(root)));
}

const cycles: string[][] = [];
const state = new Map<string, 'open' | 'done'>();
const stack: string[] = [];
function visit(file: string): void {
  state.set(file, 'open');
  stack.push(file);
  for (const next of graph.get(file) ?? []) {
    if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
    else if (!state.has(next)) visit(next);
  }
  stack.pop();
  state.set(file, 'done');
}
for (const file of graph.keys()) if (!state.has(file)) visit(file);

const rel = (f: string) => path.relative(root, f);
if (cycles.length > 0) {
  for (const cycle of cycles) console.error(`import circle: ${cycle.map(rel).join(' → ')}`);
  process.exit(1);
}
console.log(`no import circles among ${graph.size} modules under src/`);
