// rope.cuh — the rotation shared by nn.rope and nn.rope_backward: for token t, head hh, i < d/2,
// base = (t*h + hh)*d, P = pos[t] in [0, max_pos), c = cos[P*(d/2) + i], s = sin[P*(d/2) + i]:
//   forward  (a, b) = (x[base+i], x[base+i+d/2]) -> (f(f(a*c) - f(b*s)), f(f(b*c) + f(a*s)))
//   backward (a, b) -> (f(f(a*c) + f(b*s)), f(f(b*c) - f(a*s)))     (the transpose)
//   a position outside [0, max_pos) writes +0.0 to both and reads no table.
// Shapes: src, dst f32[n, h, d]; pos i32[n]; cos, sin f32[max_pos, d/2].
// One idea: element-wise over the n·h·d/2 pairs, one thread per pair, grid-stride: consecutive
// threads take consecutive i of a head, so the loads of both halves and of the table row coalesce.
// Only multiplies and adds, with the reference's NaN bits (lib/nan_bits.cuh): exact.
#pragma once
#include "../kvant_cuda.h"
#include "../lib/nan_bits.cuh"

namespace kvant::nn::detail {

constexpr unsigned kRopeThreads = 256;

template <bool kForward>
static __global__ void __launch_bounds__(kRopeThreads) ropeKernel(uint32_t n, uint32_t h, uint32_t d, uint32_t maxPos,
                                                                  const float* __restrict__ src, const int32_t* __restrict__ pos,
                                                                  const float* __restrict__ cosT, const float* __restrict__ sinT,
                                                                  float* __restrict__ dst) {
  const uint32_t half = d / 2;
  const uint64_t pairs = 1ull * n * h * half;
  const uint64_t stride = 1ull * gridDim.x * blockDim.x;
  for (uint64_t q = 1ull * blockIdx.x * blockDim.x + threadIdx.x; q < pairs; q += stride) {
    const uint32_t i = static_cast<uint32_t>(q % half);
    const uint64_t th = q / half;  // t*h + hh
    const uint32_t t = static_cast<uint32_t>(th / h);
    const uint64_t base = th * d;
    const int32_t P = __ldg(pos + t);
    if (P < 0 || static_cast<uint32_t>(P) >= maxPos) {
      dst[base + i] = 0.0f;
      dst[base + i + half] = 0.0f;
      continue;
    }
    const uint64_t ti = 1ull * static_cast<uint32_t>(P) * half + i;
    const float c = __ldg(cosT + ti), s = __ldg(sinT + ti);
    const float a = __ldg(src + base + i), b = __ldg(src + base + i + half);
    if (kForward) {
      dst[base + i] = nan_bits::sub(nan_bits::mul(a, c), nan_bits::mul(b, s));
      dst[base + i + half] = nan_bits::add(nan_bits::mul(b, c), nan_bits::mul(a, s));
    } else {
      dst[base + i] = nan_bits::add(nan_bits::mul(a, c), nan_bits::mul(b, s));
      dst[base + i + half] = nan_bits::sub(nan_bits::mul(b, c), nan_bits::mul(a, s));
    }
  }
}

inline unsigned ropeGrid(uint32_t n, uint32_t h, uint32_t d) {
  const uint64_t blocks = ceilDiv(1ull * n * h * (d / 2), kRopeThreads);
  return static_cast<unsigned>(blocks < (1u << 16) ? blocks : (1u << 16));
}

}  // namespace kvant::nn::detail
