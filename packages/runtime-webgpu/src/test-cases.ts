/**
 * Edge-input cases for the webgpu tests (the conformance suite's cases are the main list; these
 * aim at the bit-level paths of the WGSL: subnormals, infinities, NaN, huge values, values exactly
 * on decision thresholds, words shared between linear groups). One module, so it can be swapped.
 */
import {
  byteLengthOf,
  bindingElements,
  DYNAMIC_MAP_SIGNED,
  getKernel,
  NF4_CODE,
  NF4_THRESHOLDS,
  type Params,
  type Runtime,
} from '@kvant/abi';
import { randn, rng } from '@kvant/reference';

export type XGen = 'randn' | 'edge' | 'thresholds';

export interface EdgeCase {
  readonly kernel: string;
  readonly name: string;
  readonly params: Params;
  /** How to fill the f32 input `x`. */
  readonly x: XGen;
}

const SPECIALS = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, -0, 1e-45, -1e-45, 1e-40, -3e-39, 1.2e-38, 3.4e38, -3.4e38, 1e30, -1e-30];

function fillX(kind: XGen, n: number, seed: number): Float32Array {
  const x = randn(n, seed);
  if (kind === 'edge') {
    // Blocks of 64: plain, specials sprinkled, all-subnormal, huge, all-zero, NaN+zero.
    for (let i = 0; i < n; i++) {
      const blk = Math.floor(i / 64) % 6;
      if (blk === 1 && i % 5 === 0) x[i] = SPECIALS[(i / 5) % SPECIALS.length];
      else if (blk === 2) x[i] = x[i] * 1e-41;
      else if (blk === 3) x[i] = x[i] * 1e38;
      else if (blk === 4) x[i] = 0;
      else if (blk === 5) x[i] = i % 2 ? Number.NaN : -0;
    }
  }
  if (kind === 'thresholds') {
    // Exactly on NF4 thresholds (absmax 1 per block) and on half-integers of linear scales.
    for (let i = 0; i < n; i++) x[i] = i % 64 === 0 ? 1 : i % 3 === 0 ? NF4_THRESHOLDS[i % 15] : i % 3 === 1 ? (i % 17) * 0.5 - 4 : x[i];
  }
  return x;
}

/** Build the inputs of a case, fill the outputs with 0xa5 sentinels, dispatch, read the outputs. */
export async function runCase(rt: Runtime, c: EdgeCase, seed = 7): Promise<Record<string, Uint8Array>> {
  const spec = getKernel(c.kernel);
  const r = rng(seed + 1);
  const tensors: Record<string, ReturnType<Runtime['alloc']>> = {};
  for (const b of spec.bindings) {
    const count = bindingElements(spec, b, c.params);
    const t = rt.alloc(b.dtype, [count]);
    tensors[b.name] = t;
    let data: Uint8Array | Float32Array | Int32Array;
    if (b.access !== 'read') data = new Uint8Array(t.byteLength).fill(0xa5);
    else if (b.name === 'x') data = fillX(c.x, count, seed);
    else if (b.name === 'code' && count === 256) data = DYNAMIC_MAP_SIGNED;
    else if (b.name === 'nested_code') data = DYNAMIC_MAP_SIGNED;
    else if (b.name === 'code') data = NF4_CODE;
    else if (b.dtype === 'f32') data = Float32Array.from({ length: count }, () => (r() - 0.25) * 4);
    else if (b.dtype === 'i32') data = Int32Array.from({ length: count }, () => Math.floor(r() * 2 ** (c.params.bits ?? 8)));
    else data = Uint8Array.from({ length: byteLengthOf(b.dtype, count) }, () => Math.floor(r() * 256));
    const bytes = new Uint8Array(t.byteLength);
    bytes.set(new Uint8Array(data.buffer, data.byteOffset, Math.min(data.byteLength, t.byteLength)));
    rt.write(t, bytes);
  }
  try {
    rt.dispatch(c.kernel, tensors, c.params);
    const out: Record<string, Uint8Array> = {};
    for (const b of spec.bindings) if (b.access !== 'read') out[b.name] = await rt.read(tensors[b.name]);
    return out;
  } finally {
    for (const t of Object.values(tensors)) rt.free(t);
  }
}

const linear = (name: string, n: number, group: number, bits: number, symmetric: number, x: XGen): EdgeCase => ({
  kernel: 'quant.linear_quantize',
  name,
  params: { n, group, bits, symmetric },
  x,
});

export const EDGE_CASES: readonly EdgeCase[] = [
  { kernel: 'quant.nf4_quantize', name: 'edge blocks, bs 64, n odd', params: { n: 64 * 12 + 7, blocksize: 64 }, x: 'edge' },
  { kernel: 'quant.nf4_quantize', name: 'on thresholds, bs 64', params: { n: 64 * 4 + 1, blocksize: 64 }, x: 'thresholds' },
  { kernel: 'quant.nf4_quantize', name: 'bs 4096, n 4099', params: { n: 4099, blocksize: 4096 }, x: 'edge' },
  { kernel: 'quant.fp4_quantize', name: 'edge blocks, bs 64', params: { n: 64 * 12 + 3, blocksize: 64 }, x: 'edge' },
  { kernel: 'quant.fp4_quantize', name: 'edge blocks, bs 32', params: { n: 64 * 6 + 31, blocksize: 32 }, x: 'edge' },
  { kernel: 'quant.blockwise8_quantize', name: 'edge blocks, bs 64', params: { n: 64 * 12 + 5, blocksize: 64, offset: 0 }, x: 'edge' },
  { kernel: 'quant.blockwise8_quantize', name: 'offset, bs 128, n prime', params: { n: 1021, blocksize: 128, offset: 0.125 }, x: 'randn' },
  linear('symmetric 8-bit, G 5 (words shared by groups)', 64 * 6 + 3, 5, 8, 1, 'edge'),
  linear('asymmetric 4-bit, G 3', 397, 3, 4, 0, 'edge'),
  linear('asymmetric 2-bit, G 1', 13, 1, 2, 0, 'randn'),
  linear('asymmetric 8-bit, G 64, half-integers', 64 * 4 + 2, 64, 8, 0, 'thresholds'),
  linear('symmetric 3-bit, one group of 1000', 1000, 1000, 3, 1, 'edge'),
  { kernel: 'quant.linear_dequantize', name: 'asymmetric G 7', params: { n: 101, group: 7, bits: 8, symmetric: 0 }, x: 'randn' },
  { kernel: 'quant.linear_dequantize', name: 'symmetric G 5', params: { n: 99, group: 5, bits: 8, symmetric: 1 }, x: 'randn' },
  { kernel: 'quant.dequantize_4bit', name: 'n odd, bs 32', params: { n: 333, blocksize: 32 }, x: 'randn' },
  { kernel: 'quant.dequantize_4bit_dq', name: 'offset, nested 64', params: { n: 64 * 70 + 1, blocksize: 64, nested_blocksize: 64, offset: 0.37 }, x: 'randn' },
  { kernel: 'quant.blockwise8_dequantize', name: 'offset, n prime', params: { n: 1009, blocksize: 64, offset: -0.3 }, x: 'randn' },
];
