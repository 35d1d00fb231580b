// linalg.matmul_4bit — the frozen base of a QLoRA linear layer, fused: y = x·deq(W)ᵀ (forward,
// trans 0) or dx = dy·deq(W) (input gradient, trans 1), W NF4/FP4 [N, K] in bitsandbytes' layout
// with an f32 absmax per block.
//   deq(W)[r, c] = f(code[nibble(r*k + c)] * absmax[(r*k + c) / blocksize]); sums in order over the
//   inner dimension; y = beta == 0 ? acc : f(acc + f(beta * y)). Bit-identical to
//   quant.dequantize_4bit followed by linalg.matmul.
// Shapes: x f32[m, k] (trans 0) or [m, n] (trans 1); packed u8[ceil(n*k/2)]; absmax f32[ceil(n*k/blocksize)];
//         code f32[16]; y f32[m, n] (trans 0) or [m, k] (trans 1).
// One idea: the tiled matmul with W dequantized tile by tile as it is staged into shared memory
// (matmul_4bit.cuh); the absmax of a weight is one cached load.
#include "../generated/linalg/matmul_4bit.h"
#include "matmul_4bit.cuh"

namespace kvant::linalg::matmul_4bit {

struct Absmax {
  const float* absmax;
  __device__ __forceinline__ void prepare() {}
  __device__ __forceinline__ float load(uint32_t blk) const { return __ldg(absmax + blk); }
  __device__ __forceinline__ float exact(uint32_t blk) const { return load(blk); }
};

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  detail::launchMatmul4bit(p.m, p.n, p.k, p.trans, p.beta, p.blocksize, b.x, b.packed, b.code, Absmax{b.absmax}, b.y, stream);
}

}  // namespace kvant::linalg::matmul_4bit
