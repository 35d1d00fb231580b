/**
 * CI check: every kernel spec has an implementation in every runtime (a source file at the
 * conventional path) or an explicit, reasoned entry in that runtime's `src/unsupported.ts`; no
 * kernel source exists without a spec (names cannot drift); every kernel has conformance cases.
 * Shared helpers live in folders named generated, emu, common or lib, which are not families.
 * Exits 1 and lists every problem otherwise.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { familyOf, KERNELS, nameOf } from '@kvant/abi';
import { CASES } from '@kvant/conformance';
import { referenceKernels } from '@kvant/reference';

const root = join(import.meta.dirname, '..');

interface RuntimeSources {
  readonly runtime: string;
  readonly dir: string;
  readonly ext: string;
  readonly unsupported: string;
}

const RUNTIMES: RuntimeSources[] = [
  { runtime: 'wasm', dir: 'packages/runtime-wasm/assembly', ext: '.ts', unsupported: 'packages/runtime-wasm/src/unsupported.ts' },
  { runtime: 'webgpu', dir: 'kernels-wgsl', ext: '.wgsl', unsupported: 'packages/runtime-webgpu/src/unsupported.ts' },
  { runtime: 'cuda', dir: 'kernels-cuda', ext: '.cu', unsupported: 'packages/runtime-cuda/src/unsupported.ts' },
];

/** Kernel source files under dir/<family>/<name><ext>, skipping generated/ and helper folders. */
function sourcesIn(dir: string, ext: string): string[] {
  const abs = join(root, dir);
  if (!existsSync(abs)) return [];
  const out: string[] = [];
  for (const family of readdirSync(abs)) {
    const fdir = join(abs, family);
    if (!statSync(fdir).isDirectory() || ['generated', 'emu', 'common', 'lib', 'node_modules'].includes(family)) continue;
    for (const f of readdirSync(fdir)) if (f.endsWith(ext) && !f.startsWith('_')) out.push(`${family}.${f.slice(0, -ext.length)}`);
  }
  return out;
}

export async function checkImplementations(): Promise<string[]> {
  const problems: string[] = [];
  const ids = new Set(KERNELS.map((k) => k.id));
  for (const k of KERNELS) {
    if (!(k.id in referenceKernels)) problems.push(`${k.id}: no reference implementation in packages/reference`);
    const cases = CASES.filter((c) => c.kernel === k.id);
    if (cases.length < 3) problems.push(`${k.id}: ${cases.length} conformance cases, expected at least 3`);
  }
  for (const r of RUNTIMES) {
    const path = join(root, r.unsupported);
    let unsupported: Record<string, string> = {};
    if (existsSync(path)) unsupported = (await import(path)).UNSUPPORTED ?? {};
    else problems.push(`${r.runtime}: ${r.unsupported} is missing (export UNSUPPORTED, even if empty)`);
    const sources = new Set(sourcesIn(r.dir, r.ext));
    for (const k of KERNELS) {
      const file = join(r.dir, familyOf(k.id), `${nameOf(k.id)}${r.ext}`);
      const has = sources.has(k.id);
      const reason = unsupported[k.id];
      if (!has && !reason) problems.push(`${k.id}: no ${r.runtime} implementation (${file}) and no reasoned entry in ${r.unsupported}`);
      if (has && reason) problems.push(`${k.id}: ${r.runtime} has ${file} but also marks it unsupported`);
      if (reason !== undefined && reason.trim().length < 10) problems.push(`${k.id}: ${r.runtime} unsupported entry needs a reason, found ${JSON.stringify(reason)}`);
    }
    for (const id of sources) if (!ids.has(id)) problems.push(`${relative(root, join(root, r.dir))}: ${id.replace('.', '/')}${r.ext} has no kernel spec ${id}`);
    for (const id of Object.keys(unsupported)) if (!ids.has(id)) problems.push(`${r.unsupported}: entry for unknown kernel ${id}`);
  }
  return problems;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const problems = await checkImplementations();
  if (problems.length) {
    console.error(`check-implementations: ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    process.exit(1);
  }
  console.log(`check-implementations: ${KERNELS.length} kernels x ${RUNTIMES.length} runtimes + reference: every kernel implemented or reasoned unsupported`);
}
