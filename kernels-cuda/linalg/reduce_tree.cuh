// reduce_tree.cuh — the fixed 256-ary summation tree of linalg.sum and linalg.sum_squares.
//   level 0: p0[c] = sequential sum over x[256c .. 256c+256) of term(x) (term: x*x or x), from +0.0
//   level l+1: sums of 256 consecutive level-l partials, until one value is left: total
//   out[0] = total, or f(out[0] + total) when accumulating.
// Shapes: x f32[n]; partials f32[sum_l ceil(n / 256^(l+1))], laid out level after level.
//
// One idea: the tree is fixed by n, so the GPU must sum each chunk of 256 in order — one thread per
// chunk. A thread block owns 256 consecutive chunks (64 Ki elements) and walks them in 8 slabs of 32
// elements per chunk: each warp loads 32 contiguous floats per instruction (coalesced, 32 loads in
// flight) into a shared [256][33] tile (the pad makes the per-thread row reads conflict-free), then
// each thread adds its chunk's 32 values in order. One launch per level (a level of n elements
// launches ceil(n / 65536) blocks); the last level, a single chunk, writes out[0]. Every add keeps
// the reference's NaN bits (lib/nan_bits.cuh): free here, the kernel waits on memory.
#pragma once
#include "../kvant_cuda.h"
#include "../lib/nan_bits.cuh"

namespace kvant::linalg::detail {

constexpr unsigned kFanIn = 256;   // REDUCE_FAN_IN in @kvant/abi
constexpr unsigned kSlab = 32;     // elements per chunk per shared tile
constexpr unsigned kReduceThreads = 256;  // one thread per chunk

template <bool kSquare>
static __global__ void reduceLevel(const float* __restrict__ in, uint32_t len, float* __restrict__ next, float* __restrict__ out,
                                   uint32_t accumulate) {
  __shared__ float tile[kReduceThreads][kSlab + 1];
  const uint64_t chunks = ceilDiv(len, kFanIn);
  const uint64_t firstChunk = 1ull * blockIdx.x * kReduceThreads;
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  const uint64_t chunk = firstChunk + threadIdx.x;
  float acc = 0.0f;
  for (unsigned s = 0; s < kFanIn / kSlab; s++) {
    for (unsigned c = warp; c < kReduceThreads; c += warps) {
      const uint64_t i = (firstChunk + c) * kFanIn + s * kSlab + lane;
      tile[c][lane] = i < len ? __ldg(in + i) : 0.0f;
    }
    __syncthreads();
    // Elements of this chunk in this slab (0 past the end).
    const uint64_t start = chunk * kFanIn + s * kSlab;
    const unsigned valid = start >= len ? 0u : (len - start >= kSlab ? kSlab : static_cast<unsigned>(len - start));
    for (unsigned j = 0; j < valid; j++) {
      const float v = tile[threadIdx.x][j];
      acc = nan_bits::add(acc, kSquare ? nan_bits::mul(v, v) : v);
    }
    __syncthreads();
  }
  if (chunk >= chunks) return;
  if (chunks == 1) out[0] = accumulate ? nan_bits::add(out[0], acc) : acc;
  else next[chunk] = acc;
}

/** Launch every level of the tree: level 0 over x with `kSquare`, the next ones over partials. */
template <bool kSquare>
inline void reduceTree(const float* x, uint32_t n, float* partials, float* out, uint32_t accumulate, kvantStream_t stream) {
  const float* in = x;
  uint64_t len = n;
  bool first = true;
  for (;;) {
    const uint64_t chunks = ceilDiv(len, kFanIn);
    const unsigned blocks = static_cast<unsigned>(ceilDiv(chunks, kReduceThreads));
    if (first && kSquare) KVANT_LAUNCH(reduceLevel<true>, blocks, kReduceThreads, 0, stream, in, static_cast<uint32_t>(len), partials, out, accumulate);
    else KVANT_LAUNCH(reduceLevel<false>, blocks, kReduceThreads, 0, stream, in, static_cast<uint32_t>(len), partials, out, accumulate);
    if (chunks == 1) return;
    in = partials;
    partials += chunks;
    len = chunks;
    first = false;
  }
}

}  // namespace kvant::linalg::detail
