// attention.cuh — what nn.attention and nn.attention_backward share: the mask (the spec's lo), the
// layouts, and the staging of a [rows x 64] slice of token rows into shared memory.
//   q, o, dout [B, T, H, D]; k, v [B, T, Hkv, D]; lse, delta [B, H, T]; pos [B, T].
//   Query i of row bb attends keys j in [lo_i, i]: lo_i = i - min(max(pos[bb, i], 0), i), then
//   max(lo_i, i - window + 1) when window > 0. Kv head of query head hh: hh / (h / h_kv).
//
// One idea of every kernel here: the spec fixes each score's dot product as one sequential sum over
// dd, and each output's sum over keys (or queries) as one sequential sum in index order — so one
// thread owns each (query, key) pair for the dots and one thread owns each (row, dd) output, and
// the block switches between the two mappings through shared memory (the classic FlashAttention-2
// structure, with the order of every f32 operation the spec's). Head dims are staged in slices of
// kDimSlice: a dot over d is the sum over the slices in order, each slice's terms in order.
// A pair outside the mask contributes an exact zero (p = 0, dS = 0; v and k are finite and staged
// as +0.0 past T): adding f(0 · x) = ±0 leaves every sum unchanged, because a sum that starts at
// +0.0 is never -0.0 — so tiles are walked whole and only rows with no key in a tile skip it.
#pragma once
#include "../kvant_cuda.h"

namespace kvant::nn::detail {

constexpr int kAttnThreads = 256;    // 32 rows x 8 threads per row in every kernel here
constexpr int kDimSlice = 64;        // head-dim slice staged in shared memory
constexpr int kSlicePad = kDimSlice + 1;  // rows of 65 floats: column reads of 8 rows hit 8 banks
constexpr int kAttnMaxD = 256;       // ATTENTION_MAX_D in @kvant/abi

/** The first key query i of row bb attends (the spec's lo). */
__device__ __forceinline__ int attentionLo(const int32_t* pos, uint32_t t, uint32_t window, uint32_t bb, int i) {
  const int P = __ldg(pos + 1ull * bb * t + i);
  int lo = i - (P < 0 ? 0 : (P < i ? P : i));
  if (window > 0) {
    const int64_t w = static_cast<int64_t>(i) - static_cast<int64_t>(window) + 1;
    if (w > lo) lo = static_cast<int>(w);
  }
  return lo;
}

/**
 * Stage rows [0, kRows) x dims [dc, dc + 64) of a token-major tensor into `dst`: row r is
 * `src + r * rowStride` (the caller points src at its first token and head), present when
 * r < validRows; dims past d and rows past validRows are +0.0. Consecutive threads read
 * consecutive dims of a row (coalesced). Every thread of the block calls it; barriers are the
 * caller's.
 */
template <int kRows>
__device__ __forceinline__ void stageSlice(float (*dst)[kSlicePad], const float* __restrict__ src, uint64_t rowStride, int validRows, int dc, int d) {
  for (int e = threadIdx.x; e < kRows * kDimSlice; e += kAttnThreads) {
    const int r = e / kDimSlice, cc = e % kDimSlice, dd = dc + cc;
    dst[r][cc] = r < validRows && dd < d ? __ldg(src + r * rowStride + dd) : 0.0f;
  }
}

}  // namespace kvant::nn::detail
