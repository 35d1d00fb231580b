// blockwise_4bit.cuh — the kernel shared by quant.nf4_quantize and quant.fp4_quantize; each of
// those .cu files instantiates it with its code function (from generated/quant_tables.h).
//
//   absmax[b] = max |x| over the valid elements of block b (NaN ignored, fmaxf semantics)
//   s = x * (1 / absmax[b])            (f32 reciprocal, then an f32 multiply — as bitsandbytes)
//   code = codeOf(s); byte j = code[2j] << 4 | code[2j+1]; an odd n pads the last low nibble
//   with codeOf(0).
// Shapes: x f32[n], packed u8[ceil(n/2)], absmax f32[ceil(n/blocksize)].
//
// One idea: one thread block per quant block, and every element is read from DRAM exactly once.
// A thread owns pairs of elements (one output byte each) at a stride of blockDim.x pairs, keeps
// them in registers (at most 8 pairs: blocksize <= 4096, 256 threads), takes their max |x|,
// and the block reduces the per-thread maxima with warp shuffles (registers only, no barrier)
// and then one value per warp through shared memory — a single __syncthreads per reduction
// instead of log2(threads) of a shared-memory tree. The same registers are then scaled and coded.
#pragma once
#include "../kvant_cuda.h"

namespace kvant::quant::detail {

constexpr unsigned kMaxPairsPerThread = 8;  // 4096 / 2 / 256

template <class CodeOf>
__global__ void quantize4bit(uint32_t n, uint32_t blocksize, const float* __restrict__ x, uint8_t* __restrict__ packed,
                             float* __restrict__ absmax) {
  __shared__ float scratch[32];
  const CodeOf codeOf{};
  const uint64_t blk = blockIdx.x;
  const uint64_t start = blk * blocksize;
  const uint64_t end = start + blocksize < n ? start + blocksize : n;
  const uint64_t firstPair = start / 2, endPair = (end + 1) / 2;  // blocksize is even: pairs never straddle blocks
  const float2* __restrict__ x2 = reinterpret_cast<const float2*>(x);

  float2 v[kMaxPairsPerThread];
  float m = 0.0f;
#pragma unroll
  for (unsigned k = 0; k < kMaxPairsPerThread; k++) {
    const uint64_t pair = firstPair + threadIdx.x + 1ull * k * blockDim.x;
    v[k] = make_float2(0.0f, 0.0f);
    if (pair < endPair) {
      if (2 * pair + 1 < end) v[k] = __ldg(x2 + pair);  // x is 256-byte aligned: pair loads are aligned
      else v[k].x = __ldg(x + 2 * pair);                // the last element of an odd n
      m = fmaxf(m, fmaxf(fabsf(v[k].x), fabsf(v[k].y)));
    }
  }
  const float amax = blockMax(m, scratch);
  if (threadIdx.x == 0) absmax[blk] = amax;
  // 1/0 = inf and 0 * inf = NaN -> code 0 in a zero block, as in bitsandbytes.
  const float inv = __frcp_rn(amax);
#pragma unroll
  for (unsigned k = 0; k < kMaxPairsPerThread; k++) {
    const uint64_t pair = firstPair + threadIdx.x + 1ull * k * blockDim.x;
    if (pair < endPair) {
      const unsigned hi = codeOf(__fmul_rn(v[k].x, inv));
      const unsigned lo = 2 * pair + 1 < end ? codeOf(__fmul_rn(v[k].y, inv)) : codeOf(0.0f);
      packed[pair] = static_cast<uint8_t>(hi << 4 | lo);
    }
  }
}

template <class CodeOf>
void launchQuantize4bit(uint32_t n, uint32_t blocksize, const float* x, uint8_t* packed, float* absmax, kvantStream_t stream) {
  const unsigned blocks = static_cast<unsigned>(ceilDiv(n, blocksize));  // <= 2^27: fits gridDim.x
  const unsigned threads = threadsFor(blocksize / 2, 1);                  // one pair per thread up to 256 threads
  KVANT_LAUNCH(quantize4bit<CodeOf>, blocks, threads, 0, stream, n, blocksize, x, packed, absmax);
}

}  // namespace kvant::quant::detail
