// The folder layering the README's layout section states, checked on the source's own imports: a folder
// imports only the folders below it, and no file imports itself back through others.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/** What each folder may import (besides itself). */
const MAY_IMPORT: Record<string, string[]> = {
  graph: [],
  runtime: ['graph'],
  train: ['graph', 'runtime'],
  // featurize reads datasets and writes the feature tables train/data reads: it sits above train.
  featurize: ['graph', 'runtime', 'train'],
  // bench/ holds the benchmarks, cli/ registers them as `hm4sr bench ...`: cli sits above bench.
  bench: ['graph', 'runtime', 'featurize', 'train'],
  cli: ['graph', 'runtime', 'featurize', 'train', 'bench'],
  test: ['graph', 'runtime', 'featurize', 'train', 'cli', 'bench'],
};

// dist/test/ is two levels below the repository root.
const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..', '..');

type Imports = Map<string, string[]>;

function sources(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

/** file -> the project files it imports (relative specifiers, .js resolved to .ts), paths relative to the root. */
function readImports(): Imports {
  const out: Imports = new Map();
  for (const folder of Object.keys(MAY_IMPORT)) {
    for (const file of sources(join(ROOT, folder))) {
      const text = readFileSync(file, 'utf8');
      const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]);
      out.set(
        relative(ROOT, file),
        specs.map((s) => relative(ROOT, resolve(dirname(file), s.replace(/\.js$/, '.ts')))),
      );
    }
  }
  return out;
}

const folderOf = (f: string) => f.split('/')[0];

function layerViolations(imports: Imports): string[] {
  const bad: string[] = [];
  for (const [file, deps] of imports) {
    const from = folderOf(file);
    for (const d of deps) {
      const to = folderOf(d);
      if (to !== from && !(MAY_IMPORT[from] ?? []).includes(to)) bad.push(`${file} -> ${d}`);
    }
  }
  return bad;
}

/** Every import cycle, each as the files around it (depth-first search for back edges). */
function cycles(imports: Imports): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 'open');
    stack.push(f);
    for (const d of imports.get(f) ?? []) {
      if (state.get(d) === 'open') found.push([...stack.slice(stack.indexOf(d)), d]);
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of imports.keys()) if (!state.has(f)) visit(f);
  return found;
}

test('the checks find a layering breach and a cycle when there is one', () => {
  const sample: Imports = new Map([
    ['graph/a.ts', ['graph/b.ts', 'train/t.ts']],
    ['graph/b.ts', ['graph/a.ts']],
    ['train/t.ts', ['graph/a.ts']],
    ['cli/c.ts', ['bench/b.ts']],
    ['bench/b.ts', ['train/t.ts', 'cli/o.ts']],
  ]);
  assert.equal(layerViolations(sample), ['graph/a.ts -> train/t.ts', 'bench/b.ts -> cli/o.ts']);
  assert.equal(cycles(sample), [
    ['graph/a.ts', 'graph/b.ts', 'graph/a.ts'],
    ['graph/a.ts', 'train/t.ts', 'graph/a.ts'],
  ]);
});

test('every folder imports only the folders below it, and no import cycle exists', () => {
  const imports = readImports();
  assert.ok(imports.size > 50, `read ${imports.size} files under ${ROOT}`);
  const missing = [...imports.values()].flat().filter((d) => !existsSync(join(ROOT, d)));
  assert.equal(missing, [], 'every relative import resolves to a source file');
  assert.equal(layerViolations(imports), []);
  assert.equal(
    cycles(imports).map((c) => c.join(' -> ')),
    [],
  );
});

test.run();
