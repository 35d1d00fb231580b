// linalg.matmul_16bit — a frozen dense base stored in bf16 or f16: y = x·wide(W)ᵀ (trans 0) or
// dx = dy·wide(W) (trans 1), W [n, k] 16-bit, wide() the exact widening to f32.
// Shapes: x f32[m, k] (trans 0) or [m, n]; w u32[ceil(n*k/2)] (two halves per word, element e in
//         bits 16*(e%2)..); y f32[m, n] (trans 0) or [m, k].
// Math: acc over the inner index in order from +0, acc = f(acc + f(x * wide(W))); y = acc (beta 0) or
//       f(acc + f(beta * y)) — quant.dequantize_16bit then linalg.matmul (alpha 1), bit for bit.
// Idea: the dense GEMM (common/gemm.ts) with the B panel filled by widening W tile by tile
// (common/half.ts, eight halves per SIMD step), so a full f32 copy of W never exists and the
// micro-kernel is the dense one: the same sums in the same order as linalg.matmul.
import { Bindings, Params } from '../generated/linalg/matmul_16bit';
import { GEMM_SCRATCH_BYTES, gemmArgs, gemmPart, SINGLE_THREAD_SCRATCH, SINGLE_THREAD_SCRATCH_BYTES, SOURCE_16BIT } from '../common/gemm';

/** Part `part` of `parts` of the output (threading ABI, see index.ts); `scratch` is 1 MiB private to the call. */
export function linalg__matmul_16bit__part(params: usize, bindings: usize, part: u32, parts: u32, scratch: usize): void {
  run(params, bindings, part, parts, scratch, GEMM_SCRATCH_BYTES);
}

export function linalg__matmul_16bit(params: usize, bindings: usize): void {
  run(params, bindings, 0, 1, SINGLE_THREAD_SCRATCH, SINGLE_THREAD_SCRATCH_BYTES);
}

function run(params: usize, bindings: usize, part: u32, parts: u32, scratch: usize, bytes: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const g = gemmArgs(scratch);
  // trans 0: GEMM m x n x k with op(B)[kk, j] = W[j, kk] (trans_b 1); trans 1: m x k x n, op(B) = W (trans_b 0).
  g.m = usize(p.m);
  g.n = usize(p.trans == 0 ? p.n : p.k);
  g.k = usize(p.trans == 0 ? p.k : p.n);
  g.batch = 1;
  g.strideA = 0;
  g.strideB = 0;
  g.strideC = 0;
  g.transA = 0;
  g.transB = p.trans == 0 ? 1 : 0;
  g.alpha = 1;
  g.beta = p.beta;
  g.useAlpha = false;
  g.a = b.x;
  g.b = 0;
  g.c = b.y;
  g.wCols = usize(p.k);
  g.packed = b.w;
  g.halfFormat = p.format;
  g.source = SOURCE_16BIT;
  gemmPart(scratch, bytes, part, parts);
}
