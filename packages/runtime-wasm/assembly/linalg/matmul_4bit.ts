// linalg.matmul_4bit — the QLoRA frozen-base linear layer: y = x·deq(W)ᵀ (trans 0) or
// dx = dy·deq(W) (trans 1), W NF4/FP4 [n, k] in bitsandbytes' layout with f32 absmax per block.
// Shapes: x [m, k] (trans 0) or [m, n]; packed u8[ceil(n*k/2)]; absmax f32[ceil(n*k/blocksize)];
//         code f32[16]; y [m, n] (trans 0) or [m, k].
// Math: deq(W)[r,c] = f(code[nib(r*k+c)] * absmax[(r*k+c)/blocksize]); acc over the inner index in
//       order from +0; y = acc (beta 0) or f(acc + f(beta * y)) — dequantize_4bit then matmul, bit for bit.
// Idea: the dense GEMM (common/gemm.ts) with the B panel filled by dequantizing W tile by tile (a
// KC x NB tile through the SIMD table lookup, then packed), so a full f32 copy of W never exists and
// the micro-kernel is the dense one.
import { Bindings, Params } from '../generated/linalg/matmul_4bit';
import { GEMM_SCRATCH_BYTES, gemmPart, SINGLE_THREAD_SCRATCH, SINGLE_THREAD_SCRATCH_BYTES, SOURCE_4BIT } from '../common/gemm';
import { setup4bit } from '../common/matmul_4bit';

/** Part `part` of `parts` of the output (threading ABI, see index.ts); `scratch` is 1 MiB private to the call. */
export function linalg__matmul_4bit__part(params: usize, bindings: usize, part: u32, parts: u32, scratch: usize): void {
  run(params, bindings, part, parts, scratch, GEMM_SCRATCH_BYTES);
}

export function linalg__matmul_4bit(params: usize, bindings: usize): void {
  run(params, bindings, 0, 1, SINGLE_THREAD_SCRATCH, SINGLE_THREAD_SCRATCH_BYTES);
}

function run(params: usize, bindings: usize, part: u32, parts: u32, scratch: usize, bytes: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const g = setup4bit(scratch, p.m, p.n, p.k, p.trans, p.beta, p.blocksize, b.x, b.packed, b.code, b.y);
  g.absmax = b.absmax;
  g.source = SOURCE_4BIT;
  gemmPart(scratch, bytes, part, parts);
}
