// quant.blockwise8_quantize — 8-bit blockwise quantization to the nearest of 256 sorted code
// values (the dynamic map), as bitsandbytes quantize_blockwise.
//   v = x - offset; absmax[b] = max |v| over the valid elements of block b (NaN ignored);
//   s = v * (1/absmax[b]); q = number of midpoints mid_i = (code[i] + code[i+1]) * 0.5 with
//   s > mid_i (strict: a midpoint goes to the lower code), found by the reference's binary
//   search; NaN -> 0.
// Shapes: x f32[n], code f32[256], q u8[n], absmax f32[ceil(n/blocksize)].
// One idea: one thread block per quant block; each element is read once into registers (at most
// 16 per thread: blocksize <= 4096, 256 threads); the 255 midpoints are computed once per thread
// block into shared memory, where the 8 probes of each binary search are served on chip; the
// absmax reduction is warp shuffles plus one value per warp through shared memory.
#include "../generated/quant/blockwise8_quantize.h"
#include "../lib/nearest_code.cuh"

namespace kvant::quant::blockwise8_quantize {

constexpr unsigned kMaxPerThread = 16;  // 4096 / 256

static __global__ void quantize8(Params p, const float* __restrict__ x, const float* __restrict__ code, uint8_t* __restrict__ q,
                                 float* __restrict__ absmax) {
  __shared__ float mids[255];
  __shared__ float scratch[32];
  lib::codeMidpoints(code, mids);

  const uint64_t blk = blockIdx.x;
  const uint64_t start = blk * p.blocksize;
  const uint64_t end = start + p.blocksize < p.n ? start + p.blocksize : p.n;
  float v[kMaxPerThread];
  float m = 0.0f;
#pragma unroll
  for (unsigned k = 0; k < kMaxPerThread; k++) {
    const uint64_t i = start + threadIdx.x + 1ull * k * blockDim.x;
    v[k] = 0.0f;
    if (i < end) {
      v[k] = __fsub_rn(__ldg(x + i), p.offset);
      m = fmaxf(m, fabsf(v[k]));
    }
  }
  const float amax = blockMax(m, scratch);  // its barriers also publish `mids`
  if (threadIdx.x == 0) absmax[blk] = amax;
  const float inv = __frcp_rn(amax);
#pragma unroll
  for (unsigned k = 0; k < kMaxPerThread; k++) {
    const uint64_t i = start + threadIdx.x + 1ull * k * blockDim.x;
    if (i < end) q[i] = static_cast<uint8_t>(lib::nearestCode(mids, __fmul_rn(v[k], inv)));
  }
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  const unsigned blocks = static_cast<unsigned>(ceilDiv(p.n, p.blocksize));
  const unsigned threads = threadsFor(p.blocksize, 1);
  KVANT_LAUNCH(quantize8, blocks, threads, 0, stream, p, b.x, b.code, b.q, b.absmax);
}

}  // namespace kvant::quant::blockwise8_quantize
