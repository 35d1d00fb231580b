// nn.rmsnorm — RMSNorm per row as transformers' LlamaRMSNorm, and the rstd saved for backward:
//   ss = rowsum32(0, c, j -> f(x_j * x_j)); var = f(ss / c); rstd = f(1 / f(sqrt(f(var + eps))))
//   y[r, j] = f(w[j] * f(x_j * rstd)); rstd_out[r] = rstd
// Shapes: x f32[n, c], w f32[c], y f32[n, c], rstd f32[n].
// One idea: the spec's rowsum32 is one warp (lib/rowsum32.cuh), so a warp owns a row: its lanes
// read the row coalesced for the sum, every lane gets rstd from the butterfly, and the same lanes
// write y. 8 rows per block; IEEE sqrt and division (never rsqrtf); every operation carries the
// reference's NaN bits (lib/nan_bits.cuh), free in a bandwidth-bound kernel.
#include "../generated/nn/rmsnorm.h"
#include "../lib/nan_bits.cuh"
#include "../lib/rowsum32.cuh"

namespace kvant::nn::rmsnorm {

constexpr unsigned kThreads = 256;
constexpr unsigned kRowsPerBlock = kThreads / 32;

static __global__ void __launch_bounds__(kThreads) rmsnormKernel(uint32_t n, uint32_t c, float eps, const float* __restrict__ x,
                                                                  const float* __restrict__ w, float* __restrict__ y, float* __restrict__ rstdOut) {
  const uint32_t r = blockIdx.x * kRowsPerBlock + (threadIdx.x >> 5);
  if (r >= n) return;  // a whole warp leaves: rowsum32's shuffles only involve the warp
  const float* xr = x + 1ull * r * c;
  const float ss = rowsum32(0, c, [&](uint32_t j) {
    const float v = __ldg(xr + j);
    return nan_bits::mul(v, v);
  });
  const float var = nan_bits::div(ss, static_cast<float>(c));  // c < 2^24: exact as f32
  const float rstd = nan_bits::div(1.0f, nan_bits::sqrt(nan_bits::add(var, eps)));
  float* yr = y + 1ull * r * c;
  for (uint32_t j = threadIdx.x & 31u; j < c; j += 32) yr[j] = nan_bits::mul(__ldg(w + j), nan_bits::mul(__ldg(xr + j), rstd));
  if ((threadIdx.x & 31u) == 0) rstdOut[r] = rstd;
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  const unsigned blocks = static_cast<unsigned>(ceilDiv(p.n, kRowsPerBlock));
  KVANT_LAUNCH(rmsnormKernel, blocks, kThreads, 0, stream, p.n, p.c, p.eps, b.x, b.w, b.y, b.rstd);
}

}  // namespace kvant::nn::rmsnorm
