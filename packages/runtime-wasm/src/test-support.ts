/**
 * Test helpers: seeded inputs, and running one kernel on the wasm runtime and on the reference
 * runtime with the same inputs, outputs guarded by sentinel bytes.
 */
import {
  type AnyTypedArray,
  bindingElements,
  byteLengthOf,
  DTYPE_BYTES,
  getKernel,
  type Params,
  type Runtime,
  type Tensor,
} from '@kvant/abi';
import { randn, rng } from '@kvant/reference';

/** Elements of sentinel past every output's required length. */
export const GUARD_ELEMENTS = 16;
export const SENTINEL = 0xa5;

export { randn, rng };

/** Uniform random bytes. */
export function randomBytes(n: number, seed: number): Uint8Array {
  const u = rng(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(u() * 256));
}

export interface Outputs {
  /** Every binding's bytes after the dispatch (inputs too, to catch writes to them). */
  readonly bytes: Record<string, Uint8Array>;
}

/**
 * Allocate every binding of `kernelId` (required length + GUARD_ELEMENTS), fill inputs from
 * `inputs` and everything else with SENTINEL, dispatch, read back every binding, free.
 */
export async function runKernel(rt: Runtime, kernelId: string, params: Params, inputs: Record<string, AnyTypedArray>): Promise<Outputs> {
  const spec = getKernel(kernelId);
  const tensors: Record<string, Tensor> = {};
  for (const b of spec.bindings) {
    const need = bindingElements(spec, b, params);
    const t = rt.alloc(b.dtype, [need + GUARD_ELEMENTS]);
    tensors[b.name] = t;
    rt.write(t, new Uint8Array(t.byteLength).fill(SENTINEL));
    const data = inputs[b.name];
    if (data) rt.write(t, data);
  }
  rt.dispatch(kernelId, tensors, params);
  await rt.flush();
  const bytes: Record<string, Uint8Array> = {};
  for (const b of spec.bindings) {
    bytes[b.name] = await rt.read(tensors[b.name]);
    rt.free(tensors[b.name]);
  }
  return { bytes };
}

/**
 * Byte ranges of each written binding that must hold sentinel bytes after a dispatch: everything
 * past the required length.
 */
export function guardStart(kernelId: string, binding: string, params: Params): number {
  const spec = getKernel(kernelId);
  const b = spec.bindings.find((x) => x.name === binding)!;
  const need = bindingElements(spec, b, params);
  return DTYPE_BYTES[b.dtype] === 1 ? need : byteLengthOf(b.dtype, need);
}

/** Index and values of the first differing byte, or undefined. */
export function firstDifference(a: Uint8Array, b: Uint8Array): string | undefined {
  if (a.byteLength !== b.byteLength) return `lengths ${a.byteLength} vs ${b.byteLength}`;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return `byte ${i}: ${a[i]} vs ${b[i]}`;
  return undefined;
}
