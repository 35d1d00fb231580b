/**
 * Build the wasm runtime:
 *  1. write `assembly/generated/<family>/<name>.ts` (the `Params` / `Bindings` classes) for every
 *     kernel spec, and `assembly/generated/tables.ts` (the NF4/FP4 decision constants), all from
 *     @kvant/abi so the AssemblyScript side cannot drift from the spec;
 *  2. compile `assembly/index.ts` (every kernel) twice with asc: a SIMD module with its own
 *     memory (`kvant.wasm`, single-threaded), and one that imports a shared memory (`kvant-mt.wasm`,
 *     threads: every worker instantiates it over the same memory);
 *  3. check that both export `family__name` for every implemented spec;
 *  4. write `src/generated/wasm-binary.ts`, both modules as base64 (and the shared one's minimum
 *     memory), so Node, browser bundles and a bundled kit load them without file lookups.
 *
 * Run: `pnpm --filter @kvant/runtime-wasm build` (or `tsx scripts/build.ts` in this package).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  assemblyScriptModule,
  cIdent,
  FP4_MAGNITUDE_CODES,
  FP4_THRESHOLDS,
  familyOf,
  KERNELS,
  NF4_THRESHOLDS,
  nameOf,
} from '@kvant/abi';
import asc from 'assemblyscript/asc';
import { UNSUPPORTED } from '../src/unsupported';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const generatedAs = join(root, 'assembly', 'generated');
const buildDir = join(root, 'build');
const wasmPath = join(buildDir, 'kvant.wasm');
const watPath = join(buildDir, 'kvant.wat');
const wasmMtPath = join(buildDir, 'kvant-mt.wasm');
const watMtPath = join(buildDir, 'kvant-mt.wat');
const binaryTs = join(root, 'src', 'generated', 'wasm-binary.ts');

function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

/** An f32 constant as an AssemblyScript literal that parses back to the same f32. */
function f32Literal(v: number): string {
  const s = String(Math.fround(v));
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

function padTo16(a: ArrayLike<number>): number[] {
  return Array.from({ length: 16 }, (_, i) => (i < a.length ? a[i] : 0));
}

function tablesModule(): string {
  const list = (a: ArrayLike<number>, fmt: (v: number) => string) => Array.from(a, fmt).join(', ');
  return [
    '// GENERATED from @kvant/abi tables.ts by scripts/build.ts. Do not edit.',
    '// Decision constants of the 4-bit formats (docs/formats.md, "The 4-bit codes").',
    '',
    `/** NF4: code = number of thresholds t with s > t (${NF4_THRESHOLDS.length} sorted f32 values). */`,
    `export const NF4_THRESHOLDS: StaticArray<f32> = [${list(NF4_THRESHOLDS, f32Literal)}];`,
    '',
    `/** FP4: magnitude rank = number of thresholds t with |s| > t (${FP4_THRESHOLDS.length} sorted f32 values). */`,
    `export const FP4_THRESHOLDS: StaticArray<f32> = [${list(FP4_THRESHOLDS, f32Literal)}];`,
    '',
    '/** FP4: 3-bit magnitude code by rank. */',
    `export const FP4_MAGNITUDE_CODES: StaticArray<u8> = [${list(FP4_MAGNITUDE_CODES, String)}];`,
    '/** The same, padded to 16 bytes and 16-aligned, as an i8x16.swizzle table. */',
    `export const FP4_MAGNITUDE_LANES: usize = memory.data<u8>([${list(padTo16(FP4_MAGNITUDE_CODES), String)}], 16);`,
    '',
    rankFunction('nf4Rank', 'NF4', NF4_THRESHOLDS),
    rankFunction('fp4Rank', 'FP4 (of |s|)', FP4_THRESHOLDS),
  ].join('\n');
}

/**
 * An unrolled SIMD rank: per lane, the number of thresholds below s (a true compare is -1, so it
 * is subtracted). Unrolled with constant thresholds so each compare reads a v128.const.
 */
function rankFunction(name: string, what: string, thresholds: ArrayLike<number>): string {
  const lines = [
    `/** ${what} rank of four scaled values: per lane #{t : s > t}; NaN -> 0. */`,
    '// @ts-ignore: decorator',
    '@inline',
    `export function ${name}(s: v128): v128 {`,
    '  let c = i32x4.splat(0);',
  ];
  for (const t of Array.from(thresholds)) lines.push(`  c = i32x4.sub(c, f32x4.gt(s, f32x4.splat(<f32>${f32Literal(t)})));`);
  lines.push('  return c;', '}', '');
  return lines.join('\n');
}

async function main(): Promise<void> {
  // 1. Generated AssemblyScript.
  rmSync(generatedAs, { recursive: true, force: true });
  for (const spec of KERNELS) {
    write(join(generatedAs, familyOf(spec.id), `${nameOf(spec.id)}.ts`), assemblyScriptModule(spec));
  }
  write(join(generatedAs, 'tables.ts'), tablesModule());

  // 2. The same sources twice. The stub runtime never frees and the kernels never allocate, so
  // everything above __heap_base belongs to the JS arena.
  mkdirSync(buildDir, { recursive: true });
  const common = ['--enable', 'simd', '-O3', '--runtime', 'stub', '--noAssert'];
  await compile(wasmPath, watPath, [...common, '--initialMemory', '1']);
  // Threads: the memory is the host's (shared between the workers' instances), up to wasm32's 4 GiB.
  await compile(wasmMtPath, watMtPath, [...common, '--enable', 'threads', '--importMemory', '--sharedMemory', '--maximumMemory', '65536']);

  // 3. Every implemented spec must be exported as family__name(params, bindings), by both.
  const bytes = checkModule(readFileSync(wasmPath), false);
  const bytesMt = checkModule(readFileSync(wasmMtPath), true);
  const minPages = /\(import "env" "memory" \(memory \$\S+ (\d+) 65536 shared\)\)/.exec(readFileSync(watMtPath, 'utf8'));
  if (!minPages) throw new Error(`cannot find the shared memory import in ${watMtPath}`);

  // 4. The bytes as base64 for the runtime.
  write(
    binaryTs,
    [
      '// GENERATED by packages/runtime-wasm/scripts/build.ts from build/kvant.wasm and build/kvant-mt.wasm. Do not edit.',
      `/** The kvant kernels module with its own memory (${bytes.byteLength} bytes), base64. */`,
      `export const WASM_BASE64 = '${bytes.toString('base64')}';`,
      `/** The same kernels importing a shared memory, for threads (${bytesMt.byteLength} bytes), base64. */`,
      `export const WASM_MT_BASE64 = '${bytesMt.toString('base64')}';`,
      '/** Pages the shared module needs at least (its static data). */',
      `export const WASM_MT_MIN_PAGES = ${minPages[1]};`,
      '',
    ].join('\n'),
  );
  console.log(
    `runtime-wasm: ${KERNELS.length - Object.keys(UNSUPPORTED).length} kernels, ${bytes.byteLength} bytes -> ${relative(root, wasmPath)} (+ ${bytesMt.byteLength} threaded), ${relative(root, binaryTs)}`,
  );
}

async function compile(outFile: string, textFile: string, flags: string[]): Promise<void> {
  const args = [join(root, 'assembly', 'index.ts'), '--outFile', outFile, '--textFile', textFile, ...flags];
  const { error, stderr } = await asc.main(args, { stdout: process.stdout, stderr: process.stderr });
  if (error) throw new Error(`asc failed: ${error.message}\n${stderr.toString()}`);
}

/** Every implemented spec exported, the expected imports, and the memory exported or imported. */
function checkModule(bytes: Buffer, shared: boolean): Buffer {
  const module = new WebAssembly.Module(bytes);
  const exported = new Map(WebAssembly.Module.exports(module).map((e) => [e.name, e.kind]));
  const missing = KERNELS.filter((s) => !(s.id in UNSUPPORTED) && exported.get(cIdent(s.id)) !== 'function');
  if (missing.length > 0) {
    throw new Error(
      `the wasm module lacks exports for ${missing.map((s) => `${s.id} (expected ${cIdent(s.id)})`).join(', ')}; ` +
        'declare them in assembly/<family>/<name>.ts and re-export them from assembly/index.ts',
    );
  }
  const imports = WebAssembly.Module.imports(module).map((i) => `${i.module}.${i.name}`);
  const allowed = shared ? ['env.abort', 'env.memory'] : ['env.abort'];
  if (imports.some((i) => !allowed.includes(i))) throw new Error(`unexpected wasm imports: ${imports.join(', ')}`);
  if (shared && !imports.includes('env.memory')) throw new Error('the threaded wasm module does not import its memory');
  if (!shared && exported.get('memory') !== 'memory') throw new Error('the wasm module does not export its memory');
  return bytes;
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
