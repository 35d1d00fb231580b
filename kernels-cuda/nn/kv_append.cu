// nn.kv_append — append t_new rows of w words to each batch row of a cache at row t0:
// cache[(bb*s + t0 + i)*w + c] = src[(bb*t_new + i)*w + c]; every other word is left as it was.
// Shapes: src f32[B, Tnew, W]; cache f32[B, S, W] (W = Hkv·D for a KV cache).
// One idea: a bit copy, words as u32 (NaN payloads survive, as nn.embedding): a grid-stride loop
// over the b·t_new·w source words, consecutive threads on consecutive words (coalesced on both
// sides, since the new rows of a batch row are contiguous in the cache too).
#include "../generated/nn/kv_append.h"

namespace kvant::nn::kv_append {

static __global__ void appendKernel(Params p, const uint32_t* __restrict__ src, uint32_t* __restrict__ cache) {
  const uint64_t chunk = 1ull * p.t_new * p.w, total = p.b * chunk;
  for (uint64_t e = 1ull * blockIdx.x * blockDim.x + threadIdx.x; e < total; e += 1ull * gridDim.x * blockDim.x) {
    const uint64_t bb = e / chunk, r = e - bb * chunk;
    cache[(bb * p.s + p.t0) * p.w + r] = __ldg(src + e);
  }
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  const uint64_t total = 1ull * p.b * p.t_new * p.w;
  const uint64_t want = (total + 255) / 256;
  const unsigned blocks = static_cast<unsigned>(want < (1u << 16) ? want : (1u << 16));
  KVANT_LAUNCH(appendKernel, blocks, 256, 0, stream, p, reinterpret_cast<const uint32_t*>(b.src), reinterpret_cast<uint32_t*>(b.cache));
}

}  // namespace kvant::nn::kv_append
