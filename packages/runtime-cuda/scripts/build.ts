/**
 * Build the CUDA addons.
 *
 * 1. Generate, from @kvant/abi, the kernel headers (`kernels-cuda/generated/<family>/<name>.h`),
 *    the registry (`kernels-cuda/generated/registry.cpp`) and the quant code tables
 *    (`kernels-cuda/generated/quant_tables.h`), so the C++ cannot drift from the specs.
 * 2. `cuda-emu`: g++ compiles every kernel .cu as C++ with the emulation header
 *    (`-x c++ -include emu/cuda_emu.h`), plus the scheduler and the addon glue, into
 *    `build/kvant_cuda_emu.node`. Always built.
 * 3. `cuda`: nvcc compiles the kernels for sm_80 and sm_90 with PTX for newer GPUs, g++ the glue,
 *    linked with the static CUDA runtime into `build/kvant_cuda.node`. Skipped, with a message,
 *    when nvcc is absent (KVANT_SKIP_NVCC=1 also skips it).
 *
 * Compiles run two at a time and are skipped when the object is newer than its inputs.
 * Plain compiler invocations (no cmake): nothing is downloaded; Node headers come from the
 * local Node installation.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import {
  cudaHeader,
  cudaRegistry,
  FP4_MAGNITUDE_CODES,
  FP4_THRESHOLDS,
  familyOf,
  KERNELS,
  NF4_THRESHOLDS,
  nameOf,
} from '@kvant/abi';

const pkg = join(import.meta.dirname, '..');
const root = join(pkg, '..', '..');
const kernelsDir = join(root, 'kernels-cuda');
const generatedDir = join(kernelsDir, 'generated');
const buildDir = join(pkg, 'build');
const nativeDir = join(pkg, 'native');
const require = createRequire(import.meta.url);

function log(msg: string): void {
  process.stdout.write(`[runtime-cuda build] ${msg}\n`);
}

/** Write a file only when its content changes (keeps mtimes stable for incremental builds). */
function writeIfChanged(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  if (existsSync(path) && readFileSync(path, 'utf8') === text) return;
  writeFileSync(path, text);
}

/** An f32 value as an exact C hexadecimal float literal. */
function hexFloat(v: number): string {
  if (v === 0) return Object.is(v, -0) ? '-0.0f' : '0.0f';
  const bits = new DataView(new ArrayBuffer(8));
  bits.setFloat64(0, v);
  const hi = bits.getUint32(0);
  const lo = bits.getUint32(4);
  const sign = hi >>> 31 ? '-' : '';
  const exp = ((hi >>> 20) & 0x7ff) - 1023;
  const mant = ((BigInt(hi & 0xfffff) << 32n) | BigInt(lo)).toString(16).padStart(13, '0');
  return `${sign}0x1.${mant}p${exp}f`;
}

function quantTables(): string {
  const nf4 = [...NF4_THRESHOLDS].map((t) => `(s > ${hexFloat(t)})`);
  const fp4 = [...FP4_THRESHOLDS].map((t) => `(a > ${hexFloat(t)})`);
  let magnitudeBits = 0;
  FP4_MAGNITUDE_CODES.forEach((c, k) => {
    magnitudeBits |= c << (3 * k);
  });
  return [
    '// GENERATED from @kvant/abi tables.ts by packages/runtime-cuda/scripts/build.ts. Do not edit.',
    '// Decision thresholds of the 4-bit codes as exact f32 hexadecimal literals.',
    '#pragma once',
    '',
    'namespace kvant::tables {',
    '',
    '// NF4 code of a scaled value: the number of thresholds t with s > t (NaN fails every compare: 0).',
    '__host__ __device__ __forceinline__ unsigned nf4Code(float s) {',
    `  return ${nf4.map((c) => `unsigned${c}`).join(' +\n         ')};`,
    '}',
    '',
    '// FP4 code: sign bit 8 when s < 0, and the 3-bit code of the magnitude rank (the number of',
    '// thresholds t with |s| > t), looked up in a constant holding 8 codes of 3 bits. NaN -> 0.',
    '__host__ __device__ __forceinline__ unsigned fp4Code(float s) {',
    '  if (s != s) return 0;',
    '  const float a = fabsf(s);',
    `  const unsigned rank = ${fp4.map((c) => `unsigned${c}`).join(' +\n                       ')};`,
    `  return (s < 0.0f ? 8u : 0u) | ((0x${magnitudeBits.toString(16)}u >> (3 * rank)) & 7u);`,
    '}',
    '',
    '}  // namespace kvant::tables',
    '',
  ].join('\n');
}

/** Kernel ids with a .cu source under kernels-cuda/<family>/<name>.cu. */
function implementedIds(): string[] {
  return KERNELS.map((k) => k.id).filter((id) => existsSync(join(kernelsDir, familyOf(id), `${nameOf(id)}.cu`)));
}

function generate(): string[] {
  const ids = implementedIds();
  for (const spec of KERNELS) writeIfChanged(join(generatedDir, familyOf(spec.id), `${nameOf(spec.id)}.h`), cudaHeader(spec));
  writeIfChanged(join(generatedDir, 'registry.cpp'), cudaRegistry(KERNELS, new Set(ids)));
  writeIfChanged(join(generatedDir, 'quant_tables.h'), quantTables());
  log(`generated headers for ${KERNELS.length} specs, registry with ${ids.length} kernels`);
  return ids;
}

interface Job {
  readonly cmd: string;
  readonly args: string[];
  readonly output: string;
  readonly inputs: string[];
}

function mtime(path: string): number {
  return existsSync(path) ? statSync(path).mtimeMs : Number.POSITIVE_INFINITY;
}

/** Every header the sources may include (a change rebuilds everything: the set is small). */
function commonInputs(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const f of readdirSync(dir)) {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(h|cuh)$/.test(f)) out.push(p);
    }
  };
  walk(kernelsDir);
  walk(nativeDir);
  out.push(join(pkg, 'scripts', 'build.ts'));
  return out;
}

function upToDate(job: Job, common: string[]): boolean {
  if (!existsSync(job.output)) return false;
  const built = mtime(job.output);
  return [...job.inputs, ...common].every((p) => mtime(p) <= built);
}

function runJob(job: Job): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(job.cmd, job.args, { stdio: ['ignore', 'inherit', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (stderr.trim()) process.stderr.write(stderr);
      if (code === 0) resolve();
      else reject(new Error(`${basename(job.cmd)} failed (exit ${code}) building ${relative(root, job.output)}`));
    });
  });
}

async function runAll(jobs: Job[], parallel: number): Promise<number> {
  const common = commonInputs();
  const todo = jobs.filter((j) => !upToDate(j, common));
  for (const j of todo) mkdirSync(dirname(j.output), { recursive: true });
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const job = todo[next++];
      log(`${basename(job.cmd)} ${relative(root, job.inputs[0])}`);
      await runJob(job);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, todo.length) }, worker));
  return todo.length;
}

function nodeIncludes(): string[] {
  const candidates = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node'];
  const nodeInc = candidates.find((d) => existsSync(join(d, 'node_api.h')));
  if (!nodeInc) throw new Error(`Node headers (node_api.h) not found in ${candidates.join(', ')}`);
  const napi = (require('node-addon-api') as { include_dir: string }).include_dir;
  const napiDir = napi.startsWith('/') ? napi : join(pkg, napi);
  return [`-I${nodeInc}`, `-I${existsSync(napiDir) ? napiDir : dirname(require.resolve('node-addon-api/napi.h'))}`];
}

const CXX = process.env.CXX ?? 'g++';
const CXXFLAGS = ['-std=c++17', '-O2', '-fPIC', '-ffp-contract=off', '-fno-fast-math', '-Wall', '-Wno-unused-function', '-Wno-unknown-pragmas'];
const NAPI_FLAGS = ['-DNAPI_VERSION=8', '-DNODE_ADDON_API_CPP_EXCEPTIONS', '-fexceptions'];

function kernelSources(ids: string[]): string[] {
  return ids.map((id) => join(kernelsDir, familyOf(id), `${nameOf(id)}.cu`));
}

const objOf = (dir: string, src: string) => join(dir, `${relative(root, src).replace(/[/.]/g, '_')}.o`);

async function buildEmu(ids: string[], parallel: number): Promise<void> {
  const objDir = join(buildDir, 'obj-emu');
  const emuFlags = [...CXXFLAGS, `-I${kernelsDir}`, '-include', join(kernelsDir, 'emu', 'cuda_emu.h')];
  const sources = [...kernelSources(ids), join(kernelsDir, 'emu', 'selftest.cu')];
  const jobs: Job[] = sources.map((src) => ({
    cmd: CXX,
    args: [...emuFlags, '-x', 'c++', '-c', src, '-o', objOf(objDir, src)],
    output: objOf(objDir, src),
    inputs: [src],
  }));
  const cpp = [join(kernelsDir, 'emu', 'cuda_emu.cpp'), join(generatedDir, 'registry.cpp'), join(nativeDir, 'addon.cpp'), join(nativeDir, 'device_emu.cpp')];
  for (const src of cpp) {
    jobs.push({
      cmd: CXX,
      args: [...emuFlags, ...NAPI_FLAGS, ...nodeIncludes(), '-c', src, '-o', objOf(objDir, src)],
      output: objOf(objDir, src),
      inputs: [src],
    });
  }
  const compiled = await runAll(jobs, parallel);
  const out = join(buildDir, 'kvant_cuda_emu.node');
  if (compiled > 0 || !existsSync(out)) {
    execFileSync(CXX, ['-shared', '-o', out, ...jobs.map((j) => j.output), '-lpthread'], { stdio: 'inherit' });
  }
  log(`cuda-emu: ${relative(root, out)} (${compiled} of ${jobs.length} objects rebuilt)`);
}

function findNvcc(): string | undefined {
  if (process.env.KVANT_SKIP_NVCC === '1') return undefined;
  const fromEnv = process.env.CUDA_PATH ?? process.env.CUDA_HOME;
  const candidates = [fromEnv && join(fromEnv, 'bin', 'nvcc'), '/usr/local/cuda/bin/nvcc'].filter((p): p is string => !!p);
  for (const c of candidates) if (existsSync(c)) return c;
  try {
    return execFileSync('sh', ['-c', 'command -v nvcc'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The CUDA toolkit root of an nvcc (follows symlinks and the wrapper script some installs use). */
function cudaRoot(nvcc: string): string {
  const real = realpathSync(nvcc);
  const guess = dirname(dirname(real));
  if (existsSync(join(guess, 'include', 'cuda_runtime.h'))) return guess;
  const text = readFileSync(real, 'utf8').slice(0, 4096);
  const m = /exec\s+(\S+\/bin\/nvcc)/.exec(text);
  if (m) return dirname(dirname(m[1]));
  return '/usr/local/cuda';
}

const GENCODE = [
  '-gencode=arch=compute_80,code=sm_80',
  '-gencode=arch=compute_90,code=sm_90',
  '-gencode=arch=compute_90,code=compute_90', // PTX: JIT-compiled by the driver on newer GPUs
];

async function buildCuda(ids: string[], parallel: number): Promise<void> {
  const nvcc = findNvcc();
  if (!nvcc) {
    log('cuda: nvcc not found (set CUDA_PATH or put nvcc on the PATH): skipping kvant_cuda.node; the cuda-emu addon is built');
    return;
  }
  const cuda = cudaRoot(nvcc);
  const objDir = join(buildDir, 'obj-cuda');
  const sources = [...kernelSources(ids), join(kernelsDir, 'emu', 'selftest.cu')];
  const jobs: Job[] = sources.map((src) => ({
    cmd: nvcc,
    args: ['-std=c++17', '-O3', '--fmad=false', ...GENCODE, '-Xcompiler', '-fPIC', `-I${kernelsDir}`, '-c', src, '-o', objOf(objDir, src)],
    output: objOf(objDir, src),
    inputs: [src],
  }));
  const cpp = [join(generatedDir, 'registry.cpp'), join(nativeDir, 'addon.cpp'), join(nativeDir, 'device_cuda.cpp')];
  for (const src of cpp) {
    jobs.push({
      cmd: CXX,
      args: [...CXXFLAGS, ...NAPI_FLAGS, ...nodeIncludes(), `-I${kernelsDir}`, `-I${join(cuda, 'include')}`, '-c', src, '-o', objOf(objDir, src)],
      output: objOf(objDir, src),
      inputs: [src],
    });
  }
  const compiled = await runAll(jobs, parallel);
  const out = join(buildDir, 'kvant_cuda.node');
  if (compiled > 0 || !existsSync(out)) {
    const lib = [join(cuda, 'lib64'), join(cuda, 'lib'), join(cuda, 'targets', 'x86_64-linux', 'lib')].filter((d) => existsSync(d));
    execFileSync(
      CXX,
      ['-shared', '-o', out, ...jobs.map((j) => j.output), ...lib.map((d) => `-L${d}`), '-lcudart_static', '-lpthread', '-ldl', '-lrt'],
      { stdio: 'inherit' },
    );
  }
  log(`cuda: ${relative(root, out)} (${compiled} of ${jobs.length} objects rebuilt, nvcc ${nvcc})`);
}

async function main(): Promise<void> {
  const started = Date.now();
  const parallel = Math.max(1, Math.min(availableParallelism(), Number(process.env.KVANT_BUILD_JOBS ?? 2)));
  const ids = generate();
  mkdirSync(buildDir, { recursive: true });
  const only = process.argv[2]; // optional: 'emu' or 'cuda'
  if (only !== 'cuda') await buildEmu(ids, parallel);
  if (only !== 'emu') await buildCuda(ids, parallel);
  log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((e: unknown) => {
  process.stderr.write(`[runtime-cuda build] ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
