/**
 * Test helpers of @kvant/optim: the runtimes to test on (reference always; wasm once it runs the
 * kernels), params with seeded data, and the Python bridge to PyTorch (interop/torch_optim.py).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { downloadF32, type Runtime, upload } from '@kvant/abi';
import { randn, ReferenceRuntime } from '@kvant/reference';
import { createRuntime } from '@kvant/runtimes';
import type { NamedParam } from './params';

/** Kernels the optimizers and clipping dispatch. */
export const OPTIM_KERNEL_IDS = ['optim.adamw_step', 'optim.adamw8bit_step', 'linalg.scale', 'linalg.axpy', 'linalg.add', 'linalg.sum_squares'] as const;

/** The reference runtime, plus wasm when it supports every kernel the package uses. */
export async function runtimesUnderTest(): Promise<{ name: string; make: () => Promise<Runtime> }[]> {
  const list: { name: string; make: () => Promise<Runtime> }[] = [{ name: 'reference', make: async () => new ReferenceRuntime() }];
  try {
    const wasm = await createRuntime('wasm', { threads: 1 });
    const ok = OPTIM_KERNEL_IDS.every((id) => wasm.supports(id) === true);
    wasm.dispose();
    if (ok) list.push({ name: 'wasm', make: () => createRuntime('wasm', { threads: 1 }) });
  } catch {
    // wasm not available here: reference only.
  }
  return list;
}

/** Param shapes of awkward sizes: 1, a prime, one past a block, a 2-D tensor, one above 4096 with a short last block. */
export const AWKWARD_SHAPES: Readonly<Record<string, readonly number[]>> = {
  'bias.one': [1],
  'w.prime': [7],
  'w.block_plus_one': [257],
  'w.matrix': [13, 17],
  'w.large': [4099],
};

/** Seeded host data for a set of shapes. */
export function seededArrays(shapes: Readonly<Record<string, readonly number[]>>, seed: number, scale = 1): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(shapes).map(([name, shape], i) => [name, randn(shape.reduce((a, b) => a * b, 1), seed * 1000 + i, scale)]));
}

/** Upload params (and zero grads) for shapes; returns the named params. */
export function makeParams(rt: Runtime, shapes: Readonly<Record<string, readonly number[]>>, values: Record<string, Float32Array>): NamedParam[] {
  return Object.entries(shapes).map(([name, shape]) => ({
    name,
    param: upload(rt, 'f32', shape, values[name]),
    grad: upload(rt, 'f32', shape, new Float32Array(values[name].length)),
  }));
}

/** Write one step's gradients into the params' grad tensors. */
export function setGrads(rt: Runtime, params: readonly NamedParam[], grads: Record<string, Float32Array>): void {
  for (const p of params) rt.write(p.grad, grads[p.name]);
}

/** Read every param back. */
export async function readParams(params: readonly NamedParam[]): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const p of params) out[p.name] = await downloadF32(p.param);
  return out;
}

/** Largest |got - want| / max(|want|, floor) over all elements, and where. */
export function maxRelError(got: ArrayLike<number>, want: ArrayLike<number>, floor = 1e-30): { rel: number; index: number } {
  let rel = 0;
  let index = -1;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]) / Math.max(Math.abs(want[i]), floor);
    if (!(e <= rel)) {
      rel = e;
      index = i;
    }
  }
  return { rel, index };
}

/** True when two f32 arrays hold the same bits. */
export function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return ua.every((v, i) => v === ub[i]);
}

// ---------------------------------------------------------------------------------------------
// The Python bridge

const SCRIPT = fileURLToPath(new URL('../interop/torch_optim.py', import.meta.url));

/** Send one request to interop/torch_optim.py and parse its answer. */
export function torch<T>(request: Record<string, unknown>): T {
  const out = execFileSync('python3', [SCRIPT], { input: JSON.stringify(request), encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['pipe', 'pipe', 'pipe'] });
  return JSON.parse(out) as T;
}

type PythonEnv = { ok: true; torch: string; transformers: boolean } | { ok: false; reason: string };
let env: PythonEnv | undefined;

/** Whether python3 with torch runs here (and transformers is importable), or why not (checked once). */
export function pythonEnv(): PythonEnv {
  env ??= checkPython();
  return env;
}

function checkPython(): PythonEnv {
  try {
    const v = torch<{ torch: string; transformers: boolean }>({ op: 'check' });
    return { ok: true, ...v };
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    return { ok: false, reason: (err.stderr || err.message).trim().split('\n').slice(-1)[0] };
  }
}

/** In CI the interop tests must run: a missing python3/torch fails them instead of skipping. */
export const inCi = Boolean(process.env.CI);

/** Shape + data as the Python script reads tensors. */
export function pyTensors(shapes: Readonly<Record<string, readonly number[]>>, values: Record<string, Float32Array>): Record<string, { shape: readonly number[]; data: number[] }> {
  return Object.fromEntries(Object.entries(shapes).map(([k, shape]) => [k, { shape, data: Array.from(values[k]) }]));
}

/** Plain arrays for JSON. */
export function pyArrays(values: Record<string, Float32Array>): Record<string, number[]> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Array.from(v)]));
}
