import type { KernelSpec, Params } from '@kvant/abi';

/** The bytes of each binding, by name; reference kernels view them as typed arrays. */
export type Buffers = Record<string, Uint8Array>;

export const f32View = (b: Uint8Array) => new Float32Array(b.buffer, b.byteOffset, b.byteLength >> 2);
export const i32View = (b: Uint8Array) => new Int32Array(b.buffer, b.byteOffset, b.byteLength >> 2);
export const u32View = (b: Uint8Array) => new Uint32Array(b.buffer, b.byteOffset, b.byteLength >> 2);

/** A reference kernel: reads and writes binding bytes in place. */
export interface ReferenceKernel {
  readonly run: (p: Params, b: Buffers) => void;
  /**
   * For outputs with `codes` tolerance: which elements lie within `eps` of a decision threshold,
   * so that another runtime may put them one code away. Returns a mask per element.
   */
  readonly ambiguous?: (p: Params, b: Buffers, output: string, eps: number) => Uint8Array;
}

export type ReferenceKernels = Record<string, ReferenceKernel>;

export type { KernelSpec };
