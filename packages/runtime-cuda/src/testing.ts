/**
 * Test helpers: seeded inputs with awkward values, and a runner that executes one kernel case on
 * a runtime under test and on the reference runtime, with sentinel bytes after every output, and
 * returns the first differing byte of each output. Used by this package's tests.
 */
import { type AnyTypedArray, bindingElements, bytesOf, getKernel, type Params, type Runtime, type Tensor } from '@kvant/abi';
import { randn, rng } from '@kvant/reference';

export { rng };

/** Standard normal values times `scale`. */
export const normals = randn;

export type Flavor = 'normal' | 'special' | 'tiny' | 'huge';

/**
 * Values for a quantizer: `special` has an all-zero first block, NaN, +-Inf, -0, a huge and a
 * denormal value sprinkled in; `tiny` and `huge` scale everything to 1e-39 / 1e37.
 */
export function values(n: number, seed: number, flavor: Flavor, block = 64): Float32Array {
  const scale = flavor === 'tiny' ? 1e-39 : flavor === 'huge' ? 1e37 : 1;
  const x = normals(n, seed, scale);
  if (flavor === 'special') {
    const r = rng(seed ^ 0x9e3779b9);
    for (let i = 0; i < Math.min(block, n); i++) x[i] = 0;
    const specials = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 3e38, -3e38, 1e-42, -1e-42];
    for (let k = 0; k < Math.max(1, n >> 4); k++) x[Math.floor(r() * n)] = specials[k % specials.length];
  }
  return x;
}

export function randomBytes(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * 256);
  return out;
}

/** Positive absmax-like values in [lo, hi) with a few zeros. */
export function positives(n: number, seed: number, lo = 0.01, hi = 4, zeros = true): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = zeros && i % 7 === 3 ? 0 : lo + r() * (hi - lo);
  return out;
}

const SENTINEL = 0xa5;
const PAD_ELEMENTS = 8;

/** A difference between the runtime under test and the reference. */
export interface Mismatch {
  readonly binding: string;
  readonly byte: number;
  readonly got: number;
  readonly want: number;
}

async function runOn(rt: Runtime, kernelId: string, params: Params, inputs: Readonly<Record<string, AnyTypedArray>>) {
  const spec = getKernel(kernelId);
  const tensors: Record<string, Tensor> = {};
  for (const b of spec.bindings) {
    const elems = bindingElements(spec, b, params);
    if (b.access === 'read') {
      const data = inputs[b.name];
      if (!data) throw new Error(`case for ${kernelId} lacks input ${b.name}`);
      tensors[b.name] = rt.alloc(b.dtype, [elems]);
      rt.write(tensors[b.name], data);
    } else {
      const t = rt.alloc(b.dtype, [elems + PAD_ELEMENTS]);
      rt.write(t, new Uint8Array(t.byteLength).fill(SENTINEL));
      tensors[b.name] = t;
    }
  }
  rt.dispatch(kernelId, tensors, params);
  await rt.flush();
  const out: Record<string, Uint8Array> = {};
  for (const b of spec.bindings) if (b.access !== 'read') out[b.name] = await rt.read(tensors[b.name]);
  for (const t of Object.values(tensors)) rt.free(t);
  return out;
}

/** Run a case on `rt` and on `reference`; every output byte (sentinels included) must agree. */
export async function compareWithReference(
  rt: Runtime,
  reference: Runtime,
  kernelId: string,
  params: Params,
  inputs: Readonly<Record<string, AnyTypedArray>>,
): Promise<Mismatch[]> {
  const got = await runOn(rt, kernelId, params, inputs);
  const want = await runOn(reference, kernelId, params, inputs);
  const mismatches: Mismatch[] = [];
  for (const name of Object.keys(want)) {
    const g = got[name];
    const w = want[name];
    for (let i = 0; i < w.length; i++) {
      if (g[i] !== w[i]) {
        mismatches.push({ binding: name, byte: i, got: g[i], want: w[i] });
        break;
      }
    }
  }
  return mismatches;
}

export { bytesOf };
