/**
 * `pnpm check`: the layer order of ../shared/DESIGN.md, enforced on imports and package.json.
 *
 *   abi → reference and the runtimes → runtimes;  formats;  quant → lora / optim → model → trainer → cli
 *
 * Fails when
 * - a package's non-test sources import a kvant package from its own layer or a layer above it;
 * - they import a runtime package (`@kvant/reference`, `@kvant/runtime-*`, `@kvant/runtimes`) although
 *   the package is not one of those allowed to choose a runtime (runtimes, conformance, cli, bench, scripts);
 * - they import a kvant package that package.json does not list under `dependencies`;
 * - package.json lists a kvant package under `dependencies` that no non-test source imports (a test-only
 *   dependency belongs under `devDependencies`, so a user who installs the package does not get it);
 * - a workspace package is missing from LAYERS below (add it where DESIGN.md puts it).
 *
 * Tests (`*.test.ts`, test helpers such as `test-support.ts`, `testing.ts`, `test-cases.ts`) may import anything.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Layer of each workspace package (by its folder); a package may import only from lower numbers. */
export const LAYERS: Readonly<Record<string, number>> = {
  '@kvant/abi': 0,
  '@kvant/reference': 1,
  '@kvant/runtime-wasm': 1,
  '@kvant/runtime-webgpu': 1,
  '@kvant/runtime-cuda': 1,
  '@kvant/runtimes': 2,
  '@kvant/formats': 2,
  '@kvant/quant': 3,
  '@kvant/lora': 4,
  '@kvant/optim': 4,
  '@kvant/model': 5,
  '@kvant/trainer': 6,
  '@kvant/conformance': 7,
  '@kvant/cli': 8,
  '@kvant/bench': 8,
  '@kvant/scripts': 9,
};

/** Packages that choose or implement a runtime; only RUNTIME_CHOOSERS may import them. */
export const RUNTIME_PACKAGES: ReadonlySet<string> = new Set(['@kvant/reference', '@kvant/runtime-wasm', '@kvant/runtime-webgpu', '@kvant/runtime-cuda', '@kvant/runtimes']);
export const RUNTIME_CHOOSERS: ReadonlySet<string> = new Set(['@kvant/runtimes', '@kvant/conformance', '@kvant/cli', '@kvant/bench', '@kvant/scripts']);

/** Where a package's shipped sources are: `src/` for packages/*, the whole folder for the top-level ones. */
const PACKAGE_DIRS: readonly { dir: string; sources: string }[] = [
  ...readdirSync('packages').map((p) => ({ dir: join('packages', p), sources: join('packages', p, 'src') })),
  { dir: 'conformance', sources: 'conformance/src' },
  { dir: 'bench', sources: 'bench' },
  { dir: 'scripts', sources: 'scripts' },
];

const SKIP_DIRS = new Set(['node_modules', 'build', 'dist', 'generated', 'results', '.scratch']);

/** True for a test file or a test helper (which may import anything). */
export function isTestFile(path: string): boolean {
  const name = path.split('/').pop()!;
  return /\.test\.ts$/.test(name) || /^(test-[\w-]+|testing|[\w-]+-test-[\w-]+)\.ts$/.test(name) || /(^|\/)(tests?|__tests__|hostile)\//.test(path);
}

function sourceFiles(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    if (SKIP_DIRS.has(e)) continue;
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(ts|mts|js|mjs)$/.test(e) && !e.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The kvant packages a source text imports (static, dynamic and re-exports), deep imports mapped to their package. */
export function kvantImports(text: string): string[] {
  const found = new Set<string>();
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)['"](@kvant\/[a-z0-9-]+)(?:\/[^'"]*)?['"]/g;
  for (const m of text.matchAll(re)) found.add(m[1]);
  return [...found];
}

/** One broken rule. */
export interface LayerProblem {
  readonly pkg: string;
  readonly file: string;
  readonly message: string;
}

interface PackageJson {
  name: string;
  dependencies?: Record<string, string>;
}

/** Check one package; `read` gives a file's text (injectable for the check's own test). */
export function checkPackage(pkg: PackageJson, files: readonly { path: string; text: string }[], packageJsonPath: string): LayerProblem[] {
  const problems: LayerProblem[] = [];
  const layer = LAYERS[pkg.name];
  if (layer === undefined) {
    return [{ pkg: pkg.name, file: packageJsonPath, message: `package ${pkg.name} has no layer: add it to LAYERS in scripts/check-layers.ts where ../shared/DESIGN.md puts it` }];
  }
  const deps = new Set(Object.keys(pkg.dependencies ?? {}).filter((d) => d.startsWith('@kvant/')));
  const used = new Set<string>();
  for (const f of files) {
    if (isTestFile(f.path)) continue;
    for (const imp of kvantImports(f.text)) {
      if (imp === pkg.name) continue;
      used.add(imp);
      const target = LAYERS[imp];
      if (target === undefined) problems.push({ pkg: pkg.name, file: f.path, message: `imports ${imp}, which is not a workspace package with a layer` });
      else if (target >= layer) {
        problems.push({ pkg: pkg.name, file: f.path, message: `imports ${imp} (layer ${target}), expected only packages below ${pkg.name} (layer ${layer})` });
      }
      if (RUNTIME_PACKAGES.has(imp) && !RUNTIME_CHOOSERS.has(pkg.name)) {
        problems.push({ pkg: pkg.name, file: f.path, message: `imports the runtime package ${imp}; only ${[...RUNTIME_CHOOSERS].join(', ')} choose a runtime (components receive a Runtime)` });
      }
      if (!deps.has(imp)) problems.push({ pkg: pkg.name, file: f.path, message: `imports ${imp}, which package.json does not list under "dependencies"` });
    }
  }
  for (const d of deps) {
    if (!used.has(d)) {
      problems.push({ pkg: pkg.name, file: packageJsonPath, message: `lists ${d} under "dependencies" but no non-test source imports it (move it to "devDependencies" if tests need it)` });
    }
  }
  return problems;
}

function main(): number {
  const problems: LayerProblem[] = [];
  let checked = 0;
  for (const { dir, sources } of PACKAGE_DIRS) {
    const packageJsonPath = join(dir, 'package.json');
    let pkg: PackageJson;
    try {
      pkg = JSON.parse(readFileSync(packageJsonPath, 'utf8')) as PackageJson;
    } catch {
      continue; // not a package folder
    }
    const files = sourceFiles(sources).map((p) => ({ path: relative('.', p), text: readFileSync(p, 'utf8') }));
    problems.push(...checkPackage(pkg, files, packageJsonPath));
    checked++;
  }
  for (const p of problems) console.error(`check-layers: ${p.file}: ${p.pkg} ${p.message}`);
  if (problems.length) {
    console.error(`check-layers: ${problems.length} problem(s); the layer order is in ../shared/DESIGN.md and LAYERS in scripts/check-layers.ts`);
    return 1;
  }
  console.log(`check-layers: ${checked} packages follow the layer order`);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exit(main());
