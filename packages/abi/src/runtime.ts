import { type AnyTypedArray, type DType, byteLengthOf, viewAs } from './dtypes';
import { TensorError } from './errors';
import type { Params } from './spec';

/** The runtimes kvant knows by name. */
export type RuntimeName = 'reference' | 'wasm' | 'webgpu' | 'cuda' | 'cuda-emu';

export const RUNTIME_NAMES: readonly RuntimeName[] = ['reference', 'wasm', 'webgpu', 'cuda', 'cuda-emu'];

/**
 * A buffer on a runtime's device: row-major, contiguous, `byteLength` padded to 4 bytes.
 * A Tensor is a handle; its data stays on the device until `read`.
 */
export interface Tensor {
  readonly runtime: Runtime;
  /** Unique per runtime; used by runtimes to find their storage. */
  readonly id: number;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Number of elements (product of shape). */
  readonly size: number;
  /** Allocated bytes: size * dtype bytes, padded to 4. */
  readonly byteLength: number;
}

/** What a runtime says about itself (adapter, device, limits), for reports and benchmarks. */
export interface RuntimeInfo {
  readonly name: RuntimeName;
  readonly description: string;
  /**
   * Kernel ids whose arithmetic on this runtime is not IEEE f32 (approximate division or square
   * root). The conformance suite holds them to the spec's `approximate` tolerances; every other
   * kernel must match the reference as `tolerance` says. Absent or empty: all exact.
   */
  readonly approximate?: readonly string[];
  /**
   * The device flushes subnormal f32 values to zero (WGSL allows it; SwiftShader does it). The
   * conformance suite then lets an f32 element differ from the reference by at most 2^-118 (a
   * flushed subnormal operand, below 2^-126, times a factor up to 256) where one side is that small,
   * and counts and prints each such element.
   */
  readonly flushesSubnormals?: boolean;
  readonly details?: Readonly<Record<string, unknown>>;
}

/**
 * The small interface every higher package is written against. Data stays on the runtime between
 * dispatches; `dispatch` is ordered and may run asynchronously until `flush` or `read`.
 */
export interface Runtime {
  readonly name: RuntimeName;
  info(): RuntimeInfo;
  /** Allocate an uninitialized tensor. */
  alloc(dtype: DType, shape: readonly number[]): Tensor;
  /** Copy host data into a tensor, starting at `byteOffset` (a multiple of 4). */
  write(t: Tensor, data: AnyTypedArray, byteOffset?: number): void;
  /** Copy a tensor's bytes (all `byteLength` of them) back to the host. */
  read(t: Tensor): Promise<Uint8Array>;
  /** Run kernel `kernelId` with named bindings and params. Validates against the spec first. */
  dispatch(kernelId: string, bindings: Readonly<Record<string, Tensor>>, params: Params): void;
  /** Wait until every dispatched kernel has finished. */
  flush(): Promise<void>;
  /** Release one tensor's storage. */
  free(t: Tensor): void;
  /** Release everything this runtime holds; it cannot be used afterwards. */
  dispose(): void;
  /** true, or the reason this runtime cannot run the kernel. */
  supports(kernelId: string): true | string;
}

/** Count of elements of a shape. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new TensorError('shape', 'non-negative integer dims', `[${shape.join(', ')}]`);
    n *= d;
  }
  return n;
}

/**
 * Helper for runtimes: make the Tensor record for an allocation.
 */
export function makeTensor(runtime: Runtime, id: number, dtype: DType, shape: readonly number[]): Tensor {
  const size = shapeSize(shape);
  return Object.freeze({ runtime, id, dtype, shape: Object.freeze([...shape]), size, byteLength: Math.max(4, byteLengthOf(dtype, size)) });
}

/** Upload a typed array into a new tensor. */
export function upload(rt: Runtime, dtype: DType, shape: readonly number[], data: AnyTypedArray): Tensor {
  const t = rt.alloc(dtype, shape);
  rt.write(t, data);
  return t;
}

/** Read a tensor back as a typed array of its dtype (exactly `size` elements). */
export async function download(t: Tensor): Promise<AnyTypedArray> {
  const bytes = await t.runtime.read(t);
  return viewAs(t.dtype, bytes, t.size);
}

/** Read an f32 tensor back. */
export async function downloadF32(t: Tensor): Promise<Float32Array> {
  if (t.dtype !== 'f32') throw new TensorError('downloadF32', 'an f32 tensor', `${t.dtype}`);
  return (await download(t)) as Float32Array;
}

/**
 * Run one kernel from host arrays to host arrays: upload the inputs, allocate the outputs named in
 * the spec, dispatch, read the outputs back and free everything. For one-off work (quantizing a
 * tensor); training keeps tensors on the device instead.
 */
export async function runOnce(
  rt: Runtime,
  kernelId: string,
  params: Params,
  inputs: Readonly<Record<string, AnyTypedArray>>,
  outputs: Readonly<Record<string, { dtype: DType; count: number }>>,
): Promise<Record<string, Uint8Array>> {
  const tensors: Record<string, Tensor> = {};
  try {
    for (const [name, data] of Object.entries(inputs)) {
      const t = rt.alloc(dtypeOfInput(data), [Math.max(1, data.length)]);
      rt.write(t, data);
      tensors[name] = t;
    }
    for (const [name, o] of Object.entries(outputs)) tensors[name] = rt.alloc(o.dtype, [Math.max(1, o.count)]);
    rt.dispatch(kernelId, tensors, params);
    const out: Record<string, Uint8Array> = {};
    for (const name of Object.keys(outputs)) out[name] = await rt.read(tensors[name]);
    return out;
  } finally {
    for (const t of Object.values(tensors)) rt.free(t);
  }
}

function dtypeOfInput(a: AnyTypedArray): DType {
  if (a instanceof Float32Array) return 'f32';
  if (a instanceof Uint8Array) return 'u8';
  if (a instanceof Int8Array) return 'i8';
  if (a instanceof Uint32Array) return 'u32';
  if (a instanceof Int32Array) return 'i32';
  throw new TensorError('runOnce input', 'a Float32Array, Uint8Array, Int8Array, Uint32Array or Int32Array', a.constructor.name);
}
