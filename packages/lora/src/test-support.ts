/**
 * Test helpers of @kvant/lora: the runtimes to test on (reference always; wasm when it runs every
 * kernel the package dispatches — in CI a wasm that cannot start is a failure), seeded data, host
 * (f64) versions of the layer's math, and the Python bridge to PEFT (scripts/interop/peft_lora.py).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { downloadF32, type Runtime, type Tensor, upload } from '@kvant/abi';
import type { QuantizedFourBit } from '@kvant/quant';
import { randn, ReferenceRuntime } from '@kvant/reference';
import { createRuntime } from '@kvant/runtimes';

/** Every kernel @kvant/lora dispatches. */
export const LORA_KERNEL_IDS = [
  'linalg.matmul',
  'linalg.matmul_4bit',
  'linalg.matmul_4bit_dq',
  'linalg.dropout',
  'linalg.axpy',
  'linalg.scale',
  'quant.dequantize_4bit',
  'quant.dequantize_4bit_dq',
  'quant.nf4_quantize',
  'quant.fp4_quantize',
  'quant.blockwise8_quantize',
  'quant.blockwise8_dequantize',
] as const;

export const inCi = Boolean(process.env.CI);

export interface RuntimeUnderTest {
  readonly name: string;
  make(): Promise<Runtime>;
}

/** reference, plus wasm when it supports every kernel above; prints why wasm is left out otherwise. */
export async function runtimesUnderTest(): Promise<RuntimeUnderTest[]> {
  const list: RuntimeUnderTest[] = [{ name: 'reference', make: async () => new ReferenceRuntime() }];
  let wasm: Runtime;
  try {
    wasm = await createRuntime('wasm', { threads: 1 });
  } catch (e) {
    if (inCi) throw new Error(`wasm must run in CI: ${(e as Error).message}`);
    console.warn(`@kvant/lora tests: wasm left out: ${(e as Error).message}`);
    return list;
  }
  const missing = LORA_KERNEL_IDS.filter((id) => wasm.supports(id) !== true);
  wasm.dispose();
  if (missing.length === 0) list.push({ name: 'wasm', make: () => createRuntime('wasm', { threads: 1 }) });
  else console.warn(`@kvant/lora tests: wasm left out until it implements ${missing.join(', ')}`);
  return list;
}

/** Seeded normal values. */
export function data(n: number, seed: number, scale = 1): Float32Array {
  return randn(n, seed, scale);
}

export function put(rt: Runtime, shape: readonly number[], values: Float32Array): Tensor {
  return upload(rt, 'f32', shape, values);
}

export async function get(t: Tensor): Promise<Float32Array> {
  return (await downloadF32(t)).slice();
}

/** C[m, n] = A[m, k]·B[k, n] in f64 (row-major; transposes by flags). */
export function hostMatmul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, n: number, k: number, transA = false, transB = false): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += (transA ? a[t * m + i] : a[i * k + t]) * (transB ? b[j * k + t] : b[t * n + j]);
      c[i * n + j] = s;
    }
  }
  return c;
}

/** max |got - want| / max |want| (a norm-wise relative error; 0 when both are 0). */
export function relError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let e = 0;
  let w = 0;
  for (let i = 0; i < want.length; i++) {
    e = Math.max(e, Math.abs(got[i] - want[i]));
    w = Math.max(w, Math.abs(want[i]));
  }
  return w === 0 ? e : e / w;
}

export function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return ua.every((v, i) => v === ub[i]);
}

/** Host dequantization of a 4-bit tensor (plain or double-quantized absmax), independent of the kernels. */
export function hostDequantize(q: QuantizedFourBit): Float32Array {
  const n = q.shape.reduce((a, b) => a * b, 1);
  const s = q.stats;
  const absmax = (b: number) =>
    s.kind === 'absmax' ? s.absmax[b] : Math.fround(Math.fround(s.nestedCode[s.qabsmax[b]] * s.nestedAbsmax[Math.floor(b / s.nestedBlocksize)]) + s.offset);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const byte = q.packed[i >> 1];
    const nib = i % 2 === 0 ? byte >> 4 : byte & 15;
    out[i] = Math.fround(q.code[nib] * absmax(Math.floor(i / q.blocksize)));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The Python bridge

const SCRIPT = fileURLToPath(new URL('../../../scripts/interop/peft_lora.py', import.meta.url));

/** Run scripts/interop/peft_lora.py with a JSON request; returns its JSON answer. */
export function peft<T>(request: Record<string, unknown>): T {
  const out = execFileSync('python3', [SCRIPT], { input: JSON.stringify(request), encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['pipe', 'pipe', 'pipe'], timeout: 300_000 });
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

type PythonEnv = { ok: true; peft: string; torch: string; transformers: string } | { ok: false; reason: string };
let env: PythonEnv | undefined;

/** Whether python3 with torch, transformers and peft runs here, or why not (checked once). */
export function pythonEnv(): PythonEnv {
  if (env) return env;
  try {
    env = { ok: true, ...peft<{ peft: string; torch: string; transformers: string }>({ op: 'check' }) };
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    env = { ok: false, reason: (err.stderr || err.message).trim().split('\n').slice(-1)[0] };
  }
  return env;
}
