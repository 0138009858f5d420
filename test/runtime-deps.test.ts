// The CLI must start with the runtime dependencies alone (an install without dev packages, as in the GPU kit of
// scripts/gpu-kit.sh): no module it loads at start-up may import a devDependency statically. Lazy `import()`s
// are fine (featurize's transformers.js, the featurize bench's sharp).
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = new URL('../../', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** Static imports of a compiled module: `import ... from 'x'`, `import 'x'` and `export ... from 'x'`. */
export function staticImports(js: string): string[] {
  const found = js.matchAll(/^(?:import|export)\s(?:[^'"`;]*?\sfrom\s)?['"]([^'"]+)['"]/gm);
  return [...found].map((m) => m[1]);
}

/** Every bare package the modules reachable from `entry` import statically, with the module that imports it. */
function packagesFrom(entry: string): Map<string, string> {
  const seen = new Set<string>(),
    packages = new Map<string, string>();
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of staticImports(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('.')) walk(resolve(dirname(file), spec));
      else if (!spec.startsWith('node:')) {
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
        if (!packages.has(name)) packages.set(name, file.slice(ROOT.length));
      }
    }
  };
  walk(entry);
  return packages;
}

test('the CLI loads no devDependency at start-up', () => {
  const packages = packagesFrom(join(ROOT, 'dist', 'cli', 'main.js'));
  assert.ok(packages.has('yargs') && packages.has('onnxruntime-node'), 'the walk reaches the CLI and its sessions');
  const dev = [...packages].filter(([name]) => name in pkg.devDependencies && !(name in pkg.dependencies));
  assert.equal(
    dev.map(([n, by]) => `${n} (imported by ${by})`),
    [],
  );
});

test('the import scan reads the forms tsc emits', () => {
  // The relative path is spliced in so that test/layering's scan of this file does not read it as an import.
  const rel = ['.', 'c.js'].join('/');
  const js = `import a from 'x';\nimport { b } from "y/z";\nimport 'side';\nexport { c } from '${rel}';\nconst d = await import('lazy');\n`;
  assert.equal(staticImports(js), ['x', 'y/z', 'side', rel]);
});

test.run();
