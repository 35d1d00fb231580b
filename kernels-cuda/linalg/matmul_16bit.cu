// linalg.matmul_16bit — a frozen dense base stored in bf16 or f16: y = x·wide(W)ᵀ (forward,
// trans 0) or dx = dy·wide(W) (input gradient, trans 1), W [N, K] 16-bit.
//   wide() widens exactly (lib/half16.cuh); sums in order over the inner dimension;
//   y = beta == 0 ? acc : f(acc + f(beta * y)). Bit-identical (NaN payloads aside) to
//   quant.dequantize_16bit followed by linalg.matmul (alpha 1).
// Shapes: x f32[m, k] (trans 0) or [m, n] (trans 1); w u32[ceil(n*k/2)] (two halves per word,
//         element e in bits 16*(e%2)..); y f32[m, n] (trans 0) or [m, k] (trans 1).
// One idea: the tiled matmul (matmul_tiled.cuh) with W widened in registers as each tile is staged
// into shared memory — a 2-byte load and a few integer operations per weight — so W moves at half
// the bytes of an f32 weight, a full f32 copy never exists, and the inner loop is the dense one.
#include "../generated/linalg/matmul_16bit.h"
#include "../lib/half16.cuh"
#include "matmul_4bit.cuh"

namespace kvant::linalg::matmul_16bit {

/** op(B)(kk, j) = wide(W[j, kk]) (trans 0, k-contiguous) or wide(W[kk, j]) (trans 1). */
struct HalfOperand {
  const uint16_t* w;
  uint32_t wk;      // columns of W (in-features k)
  uint32_t trans;   // the kernel's trans
  uint32_t format;  // 0 bf16, 1 f16
  __device__ __forceinline__ void prepare() {}
  __device__ __forceinline__ bool kContiguous() const { return trans == 0; }
  __device__ __forceinline__ float load(uint32_t, uint32_t j, uint32_t kk) const {
    const uint64_t e = trans == 0 ? 1ull * j * wk + kk : 1ull * kk * wk + j;
    return __uint_as_float(half16::wideBits(half16::halfAt(w, e), format));
  }
  __device__ __forceinline__ float exact(uint32_t t, uint32_t j, uint32_t kk) const { return load(t, j, kk); }
};

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  const uint32_t ksum = p.trans == 0 ? p.k : p.n, ny = p.trans == 0 ? p.n : p.k;
  const detail::DenseOperand a{b.x, p.m, ksum, 0u, 0u};
  const HalfOperand w{reinterpret_cast<const uint16_t*>(b.w), p.k, p.trans, p.format};
  const detail::FourBitOutput out{b.y, ny, p.beta};  // the frozen-base epilogue: acc, plus beta * y
  detail::launchTiledMatmul(p.m, ny, ksum, 1u, a, w, out, stream);
}

}  // namespace kvant::linalg::matmul_16bit
