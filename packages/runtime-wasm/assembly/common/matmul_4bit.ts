// The GemmArgs of a 4-bit matmul (linalg.matmul_4bit and linalg.matmul_4bit_dq): x·deq(W)ᵀ or
// x·deq(W) as the dense GEMM with op(B) dequantized tile by tile into the packed panels.
//   trans 0: y [m, n] = x [m, k] · deq(W)ᵀ — GEMM m x n x k, op(B)[kk, j] = W[j, kk] (trans_b 1)
//   trans 1: y [m, k] = x [m, n] · deq(W)  — GEMM m x k x n, op(B)[kk, j] = W[kk, j] (trans_b 0)
// No alpha (y = acc), beta as matmul.
import { GemmArgs, gemmArgs, gemmPlanes, log2 } from './gemm';

/** Fill the GEMM record for W [n, k]; the caller sets the block statistics and `source`. */
export function setup4bit(scratch: usize, m: u32, n: u32, k: u32, trans: u32, beta: f32, blocksize: u32, x: usize, packed: usize, code: usize, y: usize): GemmArgs {
  const g = gemmArgs(scratch);
  g.m = usize(m);
  g.n = usize(trans == 0 ? n : k);
  g.k = usize(trans == 0 ? k : n);
  g.batch = 1;
  g.strideA = 0;
  g.strideB = 0;
  g.strideC = 0;
  g.transA = 0;
  g.transB = trans == 0 ? 1 : 0;
  g.alpha = 1;
  g.beta = beta;
  g.useAlpha = false;
  g.a = x;
  g.b = 0;
  g.c = y;
  g.wCols = usize(k);
  g.packed = packed;
  g.code = code;
  g.blockShift = log2(blocksize);
  gemmPlanes(scratch, code);
  return g;
}
