/**
 * The steps of the pack test (pack.test.ts): pack every publishable package as `pnpm pack` does,
 * and install tarballs with npm into a fresh project outside the workspace, where only plain Node
 * runs (no tsx, no TypeScript, no workspace on the module path).
 *
 *   tsx scripts/pack/pack.ts [--out DIR]    packs into DIR (default: a new temporary folder) and prints it
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { entryTargets } from '../check-packages';
import { buildPackages } from './build';
import { type Manifest, publishablePackages } from './workspace';

/** One packed package. */
export interface Tarball {
  readonly name: string;
  readonly version: string;
  /** Absolute path of the .tgz. */
  readonly file: string;
  /** Paths inside the tarball, without the leading `package/`. */
  readonly files: readonly string[];
  /** The packed package.json. */
  readonly manifest: Manifest;
}

/** Run `tasks` with at most `limit` at a time. */
async function pool<T>(limit: number, tasks: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

/** Run a command; resolves to its stdout, rejects with its output when it exits non-zero. */
function run(cmd: string, args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise(out) : reject(new Error(`${cmd} ${args.join(' ')} (in ${options.cwd}) exited ${code}:\n${err}${out}`))));
  });
}

/** Build every publishable package once, then `pnpm pack` each (its prepack finds the build up to date) into `outDir`. */
export async function packAll(outDir: string, log: (s: string) => void = () => {}): Promise<Tarball[]> {
  mkdirSync(outDir, { recursive: true });
  buildPackages(undefined, log);
  const packages = publishablePackages();
  return pool(
    2,
    packages.map((p) => async () => {
      const out = await run('pnpm', ['pack', '--json', '--pack-destination', outDir], { cwd: p.dir });
      // prepack's own lines come first; the JSON report is the last thing printed.
      const report = JSON.parse(out.slice(out.search(/^\{/m))) as { name: string; version: string; filename: string };
      const file = resolve(outDir, report.filename);
      const files = execFileSync('tar', ['-tzf', file], { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean)
        .map((f) => f.replace(/^package\//, ''));
      const manifest = JSON.parse(execFileSync('tar', ['-xzOf', file, 'package/package.json'], { encoding: 'utf8' })) as Manifest;
      log(`packed ${report.name}@${report.version}: ${files.length} files`);
      return { name: report.name, version: report.version, file, files, manifest };
    }),
  );
}

/** What is wrong with a tarball as a user receives it: entry points it lacks, sources or workspace specs it carries. */
export function tarballProblems(t: Tarball): string[] {
  const problems: string[] = [];
  const has = new Set(t.files);
  for (const e of entryTargets(t.manifest)) if (!has.has(e.path)) problems.push(`${t.name}: ${e.where} names ./${e.path}, which the tarball lacks`);
  for (const f of t.files) {
    if (/\.[cm]?tsx?$/.test(f) && !/\.d\.[cm]?ts$/.test(f)) problems.push(`${t.name}: ships the TypeScript source ${f}`);
    if (/(^|\/)(src|node_modules)\//.test(f) || /\.tsbuildinfo$/.test(f) || /\.test\.[jt]s$/.test(f)) problems.push(`${t.name}: ships ${f}, which a user does not need`);
  }
  for (const f of ['package.json', 'README.md', 'LICENSE']) if (!has.has(f)) problems.push(`${t.name}: the tarball has no ${f}`);
  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies'] as const) {
    for (const [d, spec] of Object.entries((t.manifest[field] ?? {}) as Record<string, string>)) {
      if (spec.startsWith('workspace:')) problems.push(`${t.name}: ${field}.${d} is still ${spec}`);
    }
  }
  if (t.manifest.scripts && Object.keys(t.manifest.scripts as object).some((s) => /^(pre|post)?install$/.test(s))) {
    problems.push(`${t.name}: has an install script, which npm would run on the user's machine`);
  }
  return problems;
}

/** The environment of a plain Node in a user's project: no NODE_OPTIONS (loaders), no pnpm or npm settings, no workspace bins on PATH. */
export function plainEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|pnpm_|PNPM_|NODE_OPTIONS$|NODE_PATH$|TSX_|VITEST|VITE_)/i.test(k)) continue;
    env[k] = v;
  }
  const path = (process.env.PATH ?? '').split(delimiter).filter((p) => p && !p.includes('node_modules'));
  env.PATH = [dirname(process.execPath), ...path].join(delimiter);
  env.npm_config_update_notifier = 'false';
  env.npm_config_fund = 'false';
  env.npm_config_audit = 'false';
  return env;
}

/**
 * Create `dir` as a user's project whose dependencies are `direct` (package names), every @kvant
 * package resolving to its tarball (npm `overrides`, so nothing kvant comes from the registry), and
 * install it with npm. Third-party dependencies (Dawn's `webgpu`, tokenizers…) come from the registry.
 */
export async function npmProject(dir: string, tarballs: readonly Tarball[], direct: readonly string[]): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const spec = (t: Tarball) => `file:${t.file}`;
  const byName = new Map(tarballs.map((t) => [t.name, t]));
  const dependencies: Record<string, string> = {};
  for (const n of direct) {
    const t = byName.get(n);
    if (!t) throw new Error(`no tarball for ${n}`);
    dependencies[n] = spec(t);
  }
  const overrides = Object.fromEntries(tarballs.map((t) => [t.name, spec(t)]));
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: 'kvant-user-project', private: true, type: 'module', dependencies, overrides }, null, 2)}\n`);
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: dir, env: plainEnv() });
}

/** Run `node <args>` in a user's project with the plain environment; returns stdout. */
export function plainNode(dir: string, args: readonly string[]): Promise<string> {
  return run(process.execPath, args, { cwd: dir, env: plainEnv() });
}

/** Run an installed bin (node_modules/.bin/<name>) in a user's project; returns stdout. */
export function installedBin(dir: string, name: string, args: readonly string[]): Promise<string> {
  return run(join(dir, 'node_modules', '.bin', name), args, { cwd: dir, env: plainEnv() });
}

export const sha256 = (data: Uint8Array | string): string => createHash('sha256').update(data).digest('hex');

export const readJson = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'));

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  const out = values.out ? resolve(values.out) : mkdtempSync(join(tmpdir(), 'kvant-pack-'));
  packAll(out, console.log).then(
    (tarballs) => {
      const problems = tarballs.flatMap(tarballProblems);
      for (const p of problems) console.error(p);
      console.log(`${tarballs.length} tarballs in ${out}`);
      process.exitCode = problems.length > 0 ? 1 : 0;
    },
    (e) => {
      console.error(e instanceof Error ? e.message : e);
      process.exitCode = 1;
    },
  );
}
