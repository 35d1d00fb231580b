// quant.linear_quantize — affine quantization to `bits`-bit codes, one scale and zero point per
// group of `group` consecutive elements (the last group may be shorter); statistics over finite
// elements only:
//   symmetric:  amax = max |x|, qmax = 2^(bits-1) - 1, scale = amax / qmax, zero = 0,
//               q = clamp(rint(x / scale), -qmax, qmax), stored as a two's-complement byte;
//   asymmetric: lo = min(0, min x), hi = max(0, max x), qmax = 2^bits - 1, scale = (hi - lo) / qmax,
//               zero = clamp(rint(-lo / scale), 0, qmax), q = clamp(rint(x / scale) + zero, 0, qmax).
//   rint is round-half-to-even, divisions are IEEE f32. scale == 0 or x = NaN: q = zero;
//   +-Inf: the extreme code on its side (a NaN quotient, Inf / Inf, gives 0 as in the reference).
// Shapes: x f32[n], codes u8[n], scale f32[groups], zero i32[groups]; groups = ceil(n/group).
// One idea: one thread block per group (grid-stride over groups, since groups may exceed the
// grid limit): a strided pass for the three statistics reduced with warp shuffles and one value
// per warp in shared memory, then a second strided pass that codes. `group` is any size, so x is
// read twice (the second pass mostly hits L2). Limitation: a single per-tensor group (group = n)
// runs on one thread block.
#include "../generated/quant/linear_quantize.h"

namespace kvant::quant::linear_quantize {

static __global__ void linearQuantize(Params p, const float* __restrict__ x, uint8_t* __restrict__ codes, float* __restrict__ scales,
                                      int32_t* __restrict__ zeros) {
  __shared__ float scratch[32];
  __shared__ float groupScale;
  __shared__ int32_t groupZero;
  const uint64_t groups = ceilDiv(p.n, p.group);
  const bool symmetric = p.symmetric == 1;
  const int qmax = symmetric ? (1 << (p.bits - 1)) - 1 : (1 << p.bits) - 1;
  const int qmin = symmetric ? -qmax : 0;

  for (uint64_t g = blockIdx.x; g < groups; g += gridDim.x) {
    const uint64_t start = g * p.group;
    const uint64_t end = start + p.group < p.n ? start + p.group : p.n;
    float lo = 0.0f, hi = 0.0f, amax = 0.0f;
    for (uint64_t i = start + threadIdx.x; i < end; i += blockDim.x) {
      const float v = __ldg(x + i);
      if (isNaN(v) || fabsf(v) == INFINITY) continue;  // statistics over finite elements only
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
      amax = fabsf(v) > amax ? fabsf(v) : amax;
    }
    if (symmetric) {
      amax = blockMax(amax, scratch);
    } else {
      lo = blockMinAny(lo, scratch, 0.0f);
      hi = blockMaxAny(hi, scratch, 0.0f);
    }
    if (threadIdx.x == 0) {
      float scale;
      int32_t zero = 0;
      if (symmetric) {
        scale = __fdiv_rn(amax, static_cast<float>(qmax));
      } else {
        scale = __fdiv_rn(__fsub_rn(hi, lo), static_cast<float>(qmax));
        if (scale != 0.0f) {
          const float z = rintf(__fdiv_rn(-lo, scale));
          zero = static_cast<int32_t>(fminf(fmaxf(z, 0.0f), static_cast<float>(qmax)));
        }
      }
      scales[g] = scale;
      zeros[g] = zero;
      groupScale = scale;
      groupZero = zero;
    }
    __syncthreads();
    const float scale = groupScale;
    const int32_t zero = groupZero;
    for (uint64_t i = start + threadIdx.x; i < end; i += blockDim.x) {
      const float v = __ldg(x + i);
      int q;
      if (scale == 0.0f || isNaN(v)) {
        q = zero;
      } else {
        const float r = __fadd_rn(rintf(__fdiv_rn(v, scale)), static_cast<float>(zero));  // exact: |r| <= 2^9 or inf
        q = isNaN(r) ? 0 : static_cast<int>(fminf(fmaxf(r, static_cast<float>(qmin)), static_cast<float>(qmax)));
      }
      codes[i] = static_cast<uint8_t>(q & 0xff);
    }
    __syncthreads();  // groupScale / groupZero are rewritten for the next group
  }
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  const uint64_t groups = ceilDiv(p.n, p.group);
  const unsigned grid = static_cast<unsigned>(groups < (1u << 20) ? groups : (1u << 20));
  // Up to 4 elements per thread before adding warps; a per-tensor group gets the full 256.
  const unsigned threads = threadsFor(p.group, 4);
  KVANT_LAUNCH(linearQuantize, grid, threads, 0, stream, p, b.x, b.codes, b.scale, b.zero);
}

}  // namespace kvant::quant::linear_quantize
