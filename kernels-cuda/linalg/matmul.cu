// linalg.matmul — batched C = alpha·op(A)·op(B) + beta·C, op = identity or transpose per operand.
//   acc = sum over kk = 0..k-1 in order of f(opA(i, kk) * opB(kk, j)), from +0.0 (no fma, no reassociation)
//   c = beta == 0 ? f(alpha * acc) : f(f(alpha * acc) + f(beta * c))   (beta == 0: the old C is not read)
// Shapes: A [m, k] (trans_a 0) or [k, m] (1); B [k, n] (trans_b 0) or [n, k] (1); C [m, n]; batch
//         matrices each stride_a / stride_b / stride_c elements apart (stride 0 broadcasts).
// One idea: the shared-memory tiled sgemm of matmul_tiled.cuh (128x128 or 64x64 tiles, 8x8 or 4x4
// register blocks, K steps of 8 staged k-major) with both operands read as dense loaders; the
// transposes only change which of (row, kk) the tile loads walk contiguously. Batches are grid.y.
#include "../generated/linalg/matmul.h"
#include "matmul_tiled.cuh"

namespace kvant::linalg::matmul {

namespace nb = nan_bits;

/** C's epilogue: alpha, then beta (read only when beta != 0). */
struct Output {
  float* c;
  uint32_t n, stride;
  float alpha, beta;
  template <class ExactAcc>
  __device__ __forceinline__ void store(uint32_t t, uint32_t i, uint32_t j, float acc, const ExactAcc& exactAcc) const {
    float* ci = c + 1ull * t * stride + 1ull * i * n + j;
    const float old = beta != 0.0f ? *ci : 0.0f;
    float r = __fmul_rn(alpha, acc);
    if (beta != 0.0f) r = __fadd_rn(r, __fmul_rn(beta, old));
    if (nb::isNaNf(r)) {
      r = nb::mul(alpha, exactAcc());
      if (beta != 0.0f) r = nb::add(r, nb::mul(beta, old));
    }
    *ci = r;
  }
};

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  const detail::DenseOperand a{b.a, p.m, p.k, p.trans_a, p.stride_a};
  // op(B)(kk, j) as a loader over rows j: B [n, k] (trans_b 1) is k-contiguous; B [k, n] is not.
  const detail::DenseOperand bb{b.b, p.n, p.k, p.trans_b == 0 ? 1u : 0u, p.stride_b};
  const Output out{b.c, p.n, p.stride_c, p.alpha, p.beta};
  detail::launchTiledMatmul(p.m, p.n, p.k, p.batch, a, bb, out, stream);
}

}  // namespace kvant::linalg::matmul
