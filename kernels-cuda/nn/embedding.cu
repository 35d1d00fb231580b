// nn.embedding — embedding lookup: out[t] = table[ids[t]], a row of +0.0 for an id outside [0, v).
// Shapes: ids i32[n], table f32[v, c], out f32[n, c].
// One idea: a bit copy, so words move as u32 (NaN payloads survive; no arithmetic touches them): a
// block per token row (grid-stride over rows), its threads striding over the c words — coalesced
// reads of one table row and writes of one output row. An invalid id reads nothing.
#include "../generated/nn/embedding.h"

namespace kvant::nn::embedding {

static __global__ void embeddingKernel(uint32_t n, uint32_t c, uint32_t v, const int32_t* __restrict__ ids,
                                       const uint32_t* __restrict__ table, uint32_t* __restrict__ out) {
  for (uint32_t t = blockIdx.x; t < n; t += gridDim.x) {
    const int32_t id = __ldg(ids + t);
    const bool ok = id >= 0 && static_cast<uint32_t>(id) < v;
    const uint32_t* src = table + (ok ? 1ull * static_cast<uint32_t>(id) * c : 0ull);
    uint32_t* dst = out + 1ull * t * c;
    for (uint32_t j = threadIdx.x; j < c; j += blockDim.x) dst[j] = ok ? __ldg(src + j) : 0u;
  }
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  const unsigned blocks = p.n < (1u << 16) ? p.n : (1u << 16);
  KVANT_LAUNCH(embeddingKernel, blocks, threadsFor(p.c, 1), 0, stream, p.n, p.c, p.v, b.ids,
               reinterpret_cast<const uint32_t*>(b.table), reinterpret_cast<uint32_t*>(b.out));
}

}  // namespace kvant::nn::embedding
