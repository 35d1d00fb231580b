// nn.embedding_backward — dtable[r] (+)= the sum of dout[t] over the tokens t with ids[t] == r, in
// increasing t (the spec's one sequential sum per element; no float atomics).
//   acc = accumulate ? dtable[r*c + j] : +0.0; for t = 0..n-1 with ids[t] == r: acc = f(acc + dout[t*c + j])
// Shapes: ids i32[n], dout f32[n, c], dtable f32[v, c] (read only when accumulate == 1).
//
// One idea: a block owns kRows consecutive vocabulary rows, so no other block touches them, and
// each element (r, j) of those rows is owned by one thread (j ≡ threadIdx.x mod blockDim.x) for the
// whole kernel, so its read-modify-writes are in program order. The block scans ids in chunks of
// blockDim tokens and compacts the tokens that name one of its rows into a shared list, stably
// (ballot + popcount within a warp, warp counts in order): the list is in increasing t, and the
// threads apply it entry by entry, each adding dout[t, j] for its columns. That is the spec's order
// for every element with no sort buffer (the spec has no scratch) and no atomics. Each block reads
// all n ids once (4n bytes, L2-resident) — v/kRows blocks; the dtable rows are written once more
// than they are read when accumulate == 0 (zeroed first).
#include "../generated/nn/embedding_backward.h"
#include "../lib/nan_bits.cuh"

namespace kvant::nn::embedding_backward {

constexpr unsigned kThreads = 256;
constexpr unsigned kWarps = kThreads / 32;
constexpr uint32_t kRows = 64;  // vocabulary rows per block

static __global__ void __launch_bounds__(kThreads) embeddingBackwardKernel(uint32_t n, uint32_t c, uint32_t v, uint32_t accumulate,
                                                                            const int32_t* __restrict__ ids, const float* __restrict__ dout,
                                                                            float* __restrict__ dtable) {
  __shared__ uint32_t tokens[kThreads];
  __shared__ uint32_t rows[kThreads];
  __shared__ uint32_t warpCount[kWarps];
  const uint32_t r0 = blockIdx.x * kRows;
  const uint32_t r1 = v - r0 < kRows ? v : r0 + kRows;
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
  if (!accumulate) {
    // Each element is zeroed by the thread that owns its column (j ≡ threadIdx.x), so no barrier is needed.
    for (uint32_t r = r0; r < r1; r++)
      for (uint32_t j = threadIdx.x; j < c; j += kThreads) dtable[1ull * r * c + j] = 0.0f;
  }
  for (uint32_t t0 = 0; t0 < n; t0 += kThreads) {
    const uint32_t t = t0 + threadIdx.x;
    const int32_t id = t < n ? __ldg(ids + t) : -1;
    const bool hit = id >= 0 && static_cast<uint32_t>(id) >= r0 && static_cast<uint32_t>(id) < r1;
    const unsigned ballot = __ballot_sync(0xffffffffu, hit);
    if (lane == 0) warpCount[warp] = __popc(ballot);
    __syncthreads();
    uint32_t offset = 0, total = 0;
    for (unsigned w = 0; w < kWarps; w++) {
      if (w < warp) offset += warpCount[w];
      total += warpCount[w];
    }
    if (hit) {
      const uint32_t slot = offset + __popc(ballot & ((1u << lane) - 1u));
      tokens[slot] = t;
      rows[slot] = static_cast<uint32_t>(id);
    }
    __syncthreads();
    for (uint32_t e = 0; e < total; e++) {
      const float* g = dout + 1ull * tokens[e] * c;
      float* acc = dtable + 1ull * rows[e] * c;
      for (uint32_t j = threadIdx.x; j < c; j += kThreads) acc[j] = nan_bits::add(acc[j], __ldg(g + j));
    }
    __syncthreads();  // the list and warpCount are rewritten by the next chunk
  }
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  const unsigned blocks = static_cast<unsigned>(ceilDiv(p.v, kRows));
  KVANT_LAUNCH(embeddingBackwardKernel, blocks, kThreads, 0, stream, p.n, p.c, p.v, p.accumulate, b.ids, b.dout, b.dtable);
}

}  // namespace kvant::nn::embedding_backward
