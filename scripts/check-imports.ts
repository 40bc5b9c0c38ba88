// Fails when the modules under src/ break the architecture's layering: a
// folder imports only folders below it in the order docs/architecture.md
// writes (its "Layers" line), and no modules import each other in a circle.
// Reads every import and export-from of every .ts file (type-only ones too: a
// type that flows upwards is still a dependency in the design).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const project = path.resolve(import.meta.dirname, '..');
const root = path.join(project, 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? files(full) : name.endsWith('.ts') ? [full] : [];
  });
}

/** The layer order, bottom first, from the line of docs/architecture.md that starts "Layers, bottom to top:". */
function layers(): string[] {
  const doc = readFileSync(path.join(project, 'docs', 'architecture.md'), 'utf8');
  const line = /^Layers, bottom to top: (.+)$/m.exec(doc)?.[1];
  if (!line) throw new Error('docs/architecture.md has no "Layers, bottom to top:" line');
  return [...line.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.replace(/\/$/, '').replace(/\.ts$/, ''));
}

/** A module's layer: its top folder under src/, or (a file at the top) its name without .ts. */
function layerOf(file: string): string {
  const [first, ...rest] = path.relative(root, file).split(path.sep);
  return rest.length === 0 ? first!.replace(/\.ts$/, '') : first!;
}

const specifier = /(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s*['"](\.[^'"]+)['"]/g;
const graph = new Map<string, string[]>();
for (const file of files(root)) {
  const text = readFileSync(file, 'utf8');
  graph.set(file, [...text.matchAll(specifier)].map((m) => path.resolve(path.dirname(file), m[1]!)).filter((f) => f.startsWith(root)));
}
const rel = (f: string) => path.relative(root, f);
const problems: string[] = [];

const order = layers();
const rank = new Map(order.map((name, i) => [name, i]));
for (const file of graph.keys()) {
  const layer = layerOf(file);
  if (!rank.has(layer)) problems.push(`${rel(file)}: its folder ${layer}/ is not in the layer order of docs/architecture.md`);
}
for (const [file, imports] of graph) {
  const from = layerOf(file);
  for (const target of imports) {
    const to = layerOf(target);
    if (from === to || !rank.has(from) || !rank.has(to)) continue;
    if (rank.get(to)! > rank.get(from)!) problems.push(`upward import: ${rel(file)} (${from}) imports ${rel(target)} (${to}), which is above it`);
  }
}

const state = new Map<string, 'open' | 'done'>();
const stack: string[] = [];
function visit(file: string): void {
  state.set(file, 'open');
  stack.push(file);
  for (const next of graph.get(file) ?? []) {
    if (state.get(next) === 'open') problems.push(`import circle: ${[...stack.slice(stack.indexOf(next)), next].map(rel).join(' → ')}`);
    else if (!state.has(next)) visit(next);
  }
  stack.pop();
  state.set(file, 'done');
}
for (const file of graph.keys()) if (!state.has(file)) visit(file);

if (problems.length > 0) {
  for (const problem of problems) console.error(problem);
  process.exit(1);
}
console.log(`${graph.size} modules under src/ in ${order.length} layers (${order.join(' < ')}): no upward import, no circle`);
