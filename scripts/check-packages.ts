/**
 * `pnpm check`: every publishable package (each workspace package that is not `private`) is one a
 * user can install. Its manifest as packed — package.json with `publishConfig` applied, as
 * `pnpm pack` writes it — fails the check when
 * - `exports`, `main`, `types`, `bin` or `browser` would hand a user a `.ts` source (Node cannot load
 *   one; the workspace's own `exports` may point at src/, `publishConfig` must point at dist/);
 * - such a target is a file that `files` leaves out of the tarball;
 * - `files`, `license`, `repository`, `engines` or `sideEffects` is missing, or there is no README.md or
 *   LICENSE next to it;
 * - it depends on a private workspace package (which a user cannot install);
 * - its sources import a Node builtin (`node:fs`) or Dawn (`webgpu`) that its `browser` map does not
 *   replace (`"node:fs": false`), unless its exports have a `browser` condition of their own: a
 *   browser bundle must build without configuration (bundlers drop what a page does not use, by
 *   `sideEffects`, and the `browser` map stands in for the Node-only modules left);
 * - its tsconfig.build.json does not reference exactly the kvant packages it depends on (the build
 *   builds those first; scripts/pack/build.ts).
 * The pack test (scripts/pack/pack.test.ts) checks the same targets against each real tarball.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { isTestFile } from './check-layers';
import { type Manifest, publishablePackages, ROOT, workspacePackages } from './pack/workspace';

/** Fields `pnpm pack` takes from `publishConfig` into the packed manifest. */
const PUBLISH_OVERRIDES = ['bin', 'main', 'exports', 'types', 'typings', 'module', 'browser', 'imports', 'typesVersions'] as const;

/** package.json as `pnpm pack` writes it: `publishConfig`'s overrides applied. */
export function packedManifest(m: Manifest): Manifest {
  const publish = (m.publishConfig ?? {}) as Record<string, unknown>;
  const out: Manifest = { ...m };
  for (const k of PUBLISH_OVERRIDES) if (k in publish) out[k] = publish[k];
  return out;
}

/** Every file path a manifest's entry points name, with where it is named (`exports["."].default`). */
export function entryTargets(m: Manifest): { where: string; path: string }[] {
  const out: { where: string; path: string }[] = [];
  const walk = (where: string, v: unknown): void => {
    if (typeof v === 'string') out.push({ where, path: v });
    else if (Array.isArray(v)) for (const [i, x] of v.entries()) walk(`${where}[${i}]`, x);
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(`${where}[${JSON.stringify(k)}]`, x);
  };
  walk('exports', m.exports);
  for (const k of ['main', 'types', 'typings', 'module'] as const) if (typeof m[k] === 'string') out.push({ where: k, path: m[k] as string });
  if (typeof m.bin === 'string') out.push({ where: 'bin', path: m.bin });
  else if (m.bin && typeof m.bin === 'object') for (const [k, v] of Object.entries(m.bin)) out.push({ where: `bin.${k}`, path: String(v) });
  // browser: a replacement for the main entry, or a map of module -> replacement (false: an empty module).
  if (typeof m.browser === 'string') out.push({ where: 'browser', path: m.browser });
  else if (m.browser && typeof m.browser === 'object') {
    for (const [k, v] of Object.entries(m.browser)) if (typeof v === 'string' && v.startsWith('.')) out.push({ where: `browser[${JSON.stringify(k)}]`, path: v });
  }
  return out.filter((t) => !t.path.includes('*')).map((t) => ({ ...t, path: t.path.replace(/^\.\//, '') }));
}

/** npm's `files` entry as a pattern over tarball paths: `*` within a segment, `**` across them; a folder covers what is under it. */
function globToRegExp(glob: string): RegExp {
  const segment = (s: string) => s.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  const body = glob
    .replace(/^\.?\//, '')
    .replace(/\/$/, '')
    .split('**/')
    .map((part) => part.split('**').map(segment).join('.*'))
    .join('(?:.*/)?');
  return new RegExp(`^${body}(?:/.*)?$`);
}

/** Whether `files` (npm's rules: folders and globs, `!` to leave out; package.json, README, LICENSE always) puts `path` in the tarball. */
export function filesInclude(files: readonly string[] | undefined, path: string): boolean {
  if (/^(package\.json|readme(\.[^/]*)?|license(\.[^/]*)?|licence(\.[^/]*)?)$/i.test(path)) return true;
  if (!files) return true;
  let included = false;
  for (const entry of files) {
    if (entry.startsWith('!')) {
      if (globToRegExp(entry.slice(1)).test(path)) included = false;
    } else if (globToRegExp(entry).test(path)) included = true;
  }
  return included;
}

export interface PackageProblem {
  readonly file: string;
  readonly message: string;
}

/** What makes the packed form of `m` unusable or incomplete for a user (pure: the caller reads the disk). */
export function checkPublishable(
  m: Manifest,
  where: string,
  context: {
    readonly privatePackages: ReadonlySet<string>;
    readonly hasFile: (path: string) => boolean;
    readonly buildReferences?: readonly string[];
    /** Node-only modules (builtins, Dawn) the package's non-test sources import. */
    readonly nodeOnlyImports?: readonly string[];
  },
): PackageProblem[] {
  const problems: PackageProblem[] = [];
  const fail = (message: string) => problems.push({ file: where, message: `${m.name}: ${message}` });
  const packed = packedManifest(m);
  const files = Array.isArray(m.files) ? (m.files as string[]) : undefined;
  if (!files) fail('has no "files": the tarball would carry the whole folder (sources, tests, build output); list what a user needs (dist)');
  for (const t of entryTargets(packed)) {
    if (/\.[cm]?tsx?$/.test(t.path) && !/\.d\.[cm]?ts$/.test(t.path)) {
      fail(`${t.where} hands a user the TypeScript source ./${t.path}, which Node cannot load; point publishConfig.${t.where.split(/[.[]/)[0]} at the built file in dist/`);
    } else if (!filesInclude(files, t.path)) {
      fail(`${t.where} names ./${t.path}, which "files" (${JSON.stringify(files)}) leaves out of the tarball`);
    }
  }
  if (!packed.exports) fail('has no "exports" for users (publishConfig.exports)');
  for (const field of ['license', 'repository', 'engines'] as const) if (!m[field]) fail(`has no "${field}"`);
  if (m.sideEffects === undefined) fail('has no "sideEffects" (false, or the files that have side effects), so bundlers cannot drop what a page does not use');
  for (const f of ['README.md', 'LICENSE']) if (!context.hasFile(f)) fail(`has no ${f}`);
  const deps = Object.keys((m.dependencies ?? {}) as Record<string, string>);
  for (const d of deps) if (context.privatePackages.has(d)) fail(`depends on ${d}, a private workspace package that a user cannot install (make it a devDependency, or publish it)`);
  const root = (packed.exports as Record<string, unknown> | undefined)?.['.'];
  const ownBrowserEntry = !!root && typeof root === 'object' && 'browser' in root;
  const browser = (m.browser && typeof m.browser === 'object' ? m.browser : {}) as Record<string, unknown>;
  if (!ownBrowserEntry && !(m.name in NODE_ONLY_PACKAGES)) {
    const unmapped = (context.nodeOnlyImports ?? []).filter((x) => browser[x] === undefined);
    if (unmapped.length > 0) {
      fail(`its sources import ${unmapped.join(', ')}, which "browser" does not replace, so a browser bundle of it fails; add ${unmapped.map((x) => `"${x}": false`).join(', ')} to "browser" (or give its exports a "browser" condition)`);
    }
  }
  if (context.buildReferences) {
    const kvantDeps = deps.filter((d) => d.startsWith('@kvant/')).sort();
    const refs = [...context.buildReferences].sort();
    if (JSON.stringify(kvantDeps) !== JSON.stringify(refs)) {
      fail(`tsconfig.build.json references ${JSON.stringify(refs)}, expected the kvant packages under "dependencies": ${JSON.stringify(kvantDeps)}`);
    }
  } else fail('has no tsconfig.build.json (see tsconfig.package.json): scripts/pack/build.ts builds it from there');
  return problems;
}

/** Packages that make no sense in a browser, so need no browser map: why. */
const NODE_ONLY_PACKAGES: Readonly<Record<string, string>> = {
  '@kvant/cli': 'the kvant command, run by Node',
};

/** Modules that exist only in Node: its builtins and Dawn's `webgpu` package. */
const NODE_ONLY = /^(node:[\w/]+|webgpu)$/;

/** The Node-only modules that `texts` import (static, dynamic, re-exported). */
export function nodeOnlyImports(texts: readonly string[]): string[] {
  const found = new Set<string>();
  for (const text of texts) {
    for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm)) if (NODE_ONLY.test(m[1])) found.add(m[1]);
  }
  return [...found].sort();
}

function shippedSources(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) {
        if (name !== 'node_modules') walk(p);
      } else if (/\.ts$/.test(name) && !name.endsWith('.d.ts') && !isTestFile(relative(ROOT, p))) out.push(readFileSync(p, 'utf8'));
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/** The packages a tsconfig.build.json references, by name. */
function buildReferences(dir: string, names: ReadonlyMap<string, string>): string[] | undefined {
  const path = join(dir, 'tsconfig.build.json');
  if (!existsSync(path)) return undefined;
  const text = readFileSync(path, 'utf8').replace(/^\s*\/\/.*$/gm, '');
  const config = JSON.parse(text) as { references?: { path: string }[] };
  return (config.references ?? []).map((r) => names.get(dirname(resolve(dir, r.path))) ?? r.path);
}

/** Problems of every publishable package of the workspace at `root`. */
export function checkWorkspacePackages(root = ROOT): PackageProblem[] {
  const all = workspacePackages(root);
  const privatePackages = new Set(all.filter((p) => p.manifest.private).map((p) => p.name));
  const names = new Map(all.map((p) => [p.dir, p.name]));
  return publishablePackages(root).flatMap((p) =>
    checkPublishable(p.manifest, relative(root, join(p.dir, 'package.json')), {
      privatePackages,
      hasFile: (f) => existsSync(join(p.dir, f)),
      buildReferences: buildReferences(p.dir, names),
      nodeOnlyImports: nodeOnlyImports(shippedSources(join(p.dir, 'src'))),
    }),
  );
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const problems = checkWorkspacePackages();
  for (const p of problems) console.error(`${p.file}: ${p.message}`);
  if (problems.length > 0) {
    console.error(`check-packages: ${problems.length} problem(s)`);
    process.exitCode = 1;
  } else {
    console.log(`check-packages: ${publishablePackages().length} publishable packages hand users only built files that they ship`);
  }
}
