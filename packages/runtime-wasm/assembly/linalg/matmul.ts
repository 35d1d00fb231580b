// linalg.matmul — batched C = alpha·op(A)·op(B) + beta·C, op = identity or transpose per operand.
// Shapes: per batch t: A [m, k] (trans_a 0) or [k, m]; B [k, n] (trans_b 0) or [n, k]; C [m, n];
//         matrices stride_a / stride_b / stride_c elements apart (0 broadcasts A or B).
// Math: acc = +0; for kk = 0..k-1 in order: acc = f(acc + f(opA(i,kk) * opB(kk,j)));
//       beta == 0: c = f(alpha * acc) (old C not read); else c = f(f(alpha * acc) + f(beta * c)).
// Idea: the blocked, packed GEMM of common/gemm.ts (6x8 register block, panels packed for every
// transpose combination; one-row calls with trans_b 1 take its matrix-vector path), so each
// element's sum still walks k in order and the bits equal the reference; `__part` computes a
// disjoint range of output units for the threaded runtime.
import { Bindings, Params } from '../generated/linalg/matmul';
import { GEMM_SCRATCH_BYTES, gemmArgs, gemmPart, SINGLE_THREAD_SCRATCH, SINGLE_THREAD_SCRATCH_BYTES, SOURCE_DENSE } from '../common/gemm';

/** Part `part` of `parts` of the output (threading ABI, see index.ts); `scratch` is 1 MiB private to the call. */
export function linalg__matmul__part(params: usize, bindings: usize, part: u32, parts: u32, scratch: usize): void {
  run(params, bindings, part, parts, scratch, GEMM_SCRATCH_BYTES);
}

export function linalg__matmul(params: usize, bindings: usize): void {
  run(params, bindings, 0, 1, SINGLE_THREAD_SCRATCH, SINGLE_THREAD_SCRATCH_BYTES);
}

function run(params: usize, bindings: usize, part: u32, parts: u32, scratch: usize, bytes: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const g = gemmArgs(scratch);
  g.m = usize(p.m);
  g.n = usize(p.n);
  g.k = usize(p.k);
  g.batch = usize(p.batch);
  g.strideA = usize(p.stride_a);
  g.strideB = usize(p.stride_b);
  g.strideC = usize(p.stride_c);
  g.transA = p.trans_a;
  g.transB = p.trans_b;
  g.alpha = p.alpha;
  g.beta = p.beta;
  g.useAlpha = true;
  g.a = b.a;
  g.b = b.b;
  g.c = b.c;
  g.source = SOURCE_DENSE;
  gemmPart(scratch, bytes, part, parts);
}
