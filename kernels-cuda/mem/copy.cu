// mem.copy — dst[i] = src[i] for i < words.
// Shapes: src u32[words] (read), dst u32[words] (write).
// One idea: every thread moves 16 bytes (uint4) per step of a grid-stride loop — the widest load
// and store the hardware has — so the copy is bound by DRAM bandwidth, not by instruction issue.
// The benchmarks divide every other kernel's bandwidth by this one's. Buffers come from
// cudaMalloc (256-byte aligned), so the uint4 view of a whole buffer is aligned.
#include "../generated/mem/copy.h"

namespace kvant::mem::copy {

static __global__ void copyWords(Params p, const uint32_t* __restrict__ src, uint32_t* __restrict__ dst) {
  const uint64_t vecs = p.words / 4;  // whole uint4 groups
  const uint64_t stride = 1ull * gridDim.x * blockDim.x;
  const uint64_t first = 1ull * blockIdx.x * blockDim.x + threadIdx.x;
  const uint4* __restrict__ s4 = reinterpret_cast<const uint4*>(src);
  uint4* __restrict__ d4 = reinterpret_cast<uint4*>(dst);
  for (uint64_t v = first; v < vecs; v += stride) d4[v] = __ldg(s4 + v);
  // The last words % 4 words, one per thread of the first few threads.
  const uint64_t tail = vecs * 4 + first;
  if (tail < p.words) dst[tail] = __ldg(src + tail);
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  const unsigned threads = 256;
  // Enough blocks for one uint4 per thread, capped: beyond ~1M resident-thread equivalents the
  // grid-stride loop does the rest with no loss.
  const uint64_t blocks = ceilDiv(p.words / 4 > 0 ? p.words / 4 : 1, threads);
  const unsigned grid = static_cast<unsigned>(blocks < 4096 ? blocks : 4096);
  KVANT_LAUNCH(copyWords, grid, threads, 0, stream, p, b.src, b.dst);
}

}  // namespace kvant::mem::copy
