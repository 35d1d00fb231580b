// nn.rmsnorm_backward — RMSNorm gradient from the saved rstd:
//   xhat_j = f(x_j * rs); g_j = f(dy_j * w[j]); dot = rowsum32(0, c, j -> f(g_j * xhat_j)); mu = f(dot / c)
//   dx[r, j] = f(rs * f(g_j - f(xhat_j * mu)))
//   dw[j] (+)= sum over rows r = 0..n-1 in order of f(dy[r, j] * xhat_rj)   (one sequential sum per column)
// Shapes: x, dy, dx f32[n, c]; w, dw f32[c]; rstd f32[n].
// One idea: two launches with the two owners the spec's orders ask for. dx: a warp per row, as the
// forward (rowsum32 is the warp's butterfly). dw: a thread per column j walks the rows in order —
// consecutive threads read consecutive columns of a row, so every row step is a coalesced load of
// x and dy; no atomics, no partials (a row-blocked sum would round differently). NaN bits as the
// reference on every operation (lib/nan_bits.cuh).
#include "../generated/nn/rmsnorm_backward.h"
#include "../lib/nan_bits.cuh"
#include "../lib/rowsum32.cuh"

namespace kvant::nn::rmsnorm_backward {

constexpr unsigned kThreads = 256;
constexpr unsigned kRowsPerBlock = kThreads / 32;

static __global__ void __launch_bounds__(kThreads) dxKernel(uint32_t n, uint32_t c, const float* __restrict__ x, const float* __restrict__ w,
                                                             const float* __restrict__ rstd, const float* __restrict__ dy, float* __restrict__ dx) {
  const uint32_t r = blockIdx.x * kRowsPerBlock + (threadIdx.x >> 5);
  if (r >= n) return;  // whole warps only
  const float rs = __ldg(rstd + r);
  const float* xr = x + 1ull * r * c;
  const float* dyr = dy + 1ull * r * c;
  const float dot = rowsum32(0, c, [&](uint32_t j) {
    const float g = nan_bits::mul(__ldg(dyr + j), __ldg(w + j));
    return nan_bits::mul(g, nan_bits::mul(__ldg(xr + j), rs));
  });
  const float mu = nan_bits::div(dot, static_cast<float>(c));
  float* dxr = dx + 1ull * r * c;
  for (uint32_t j = threadIdx.x & 31u; j < c; j += 32) {
    const float g = nan_bits::mul(__ldg(dyr + j), __ldg(w + j));
    const float xhat = nan_bits::mul(__ldg(xr + j), rs);
    dxr[j] = nan_bits::mul(rs, nan_bits::sub(g, nan_bits::mul(xhat, mu)));
  }
}

static __global__ void __launch_bounds__(kThreads) dwKernel(uint32_t n, uint32_t c, uint32_t accumulate, const float* __restrict__ x,
                                                             const float* __restrict__ rstd, const float* __restrict__ dy, float* __restrict__ dw) {
  const uint32_t j = blockIdx.x * kThreads + threadIdx.x;
  if (j >= c) return;
  float acc = accumulate ? dw[j] : 0.0f;
  for (uint32_t r = 0; r < n; r++) {
    const uint64_t e = 1ull * r * c + j;
    acc = nan_bits::add(acc, nan_bits::mul(__ldg(dy + e), nan_bits::mul(__ldg(x + e), __ldg(rstd + r))));
  }
  dw[j] = acc;
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  KVANT_LAUNCH(dxKernel, static_cast<unsigned>(ceilDiv(p.n, kRowsPerBlock)), kThreads, 0, stream, p.n, p.c, b.x, b.w, b.rstd, b.dy, b.dx);
  KVANT_LAUNCH(dwKernel, static_cast<unsigned>(ceilDiv(p.c, kThreads)), kThreads, 0, stream, p.n, p.c, p.accumulate, b.x, b.rstd, b.dy, b.dw);
}

}  // namespace kvant::nn::rmsnorm_backward
