// nn.attention — causal grouped-query attention with packed-document masks and an optional sliding
// window, FlashAttention-2's online softmax over key tiles of 64; writes o and the row lse.
//   s_ij = f(dot_ij * scale), dot sequential over dd. Per query row, per key tile K = [64kt, 64kt + 64)
//   meeting [lo, i] (J = K ∩ [lo, i]): mn = max(m, max_J s); alpha = m == -Inf ? 0 : f(exp(f(m - mn)));
//   p_j = f(exp(f(s_ij - mn))); l = f(f(l * alpha) + (sum_J p_j in order));
//   acc[dd] = f(f(acc[dd] * alpha) + (sum_J f(p_j * v_j[dd]) in order)); m = mn.
//   o_i = f(acc / l); lse = f(m + f(log(l))).
// Shapes: q, o f32[B, T, H, D]; k, v f32[B, T, Hkv, D]; pos i32[B, T]; lse f32[B, H, T].
//
// One idea: a block per (b, h, tile of 32 queries); 256 threads, 8 per query row. The block walks the
// key tiles of 64 its rows need, in order, with K and then V staged in shared memory slice by slice
// of 64 dims (attention.cuh); no T x T buffer: the working set is 32 x 64 scores and 32 x D
// accumulators, held in registers (thread (row, sub) owns keys sub + 8u for the scores, then dims
// sub + 8u for the accumulators). The scores of a tile are finished before any exp (the tile's max
// is the spec's), the row max is a butterfly over the row's 8 lanes, and each sum over keys is one
// thread's loop in key order: the spec's order bit for bit but for exp and log (CUDA's expf, 2 ulp,
// and logf, 1 ulp; never the __expf intrinsics), which the spec's `close` bound covers.
// Performance (not yet measured on a GPU): Q is re-staged per key tile (an L2 hit), plain
// multiply-adds (no fma: --fmad=false), no tensor cores (they would round differently).
#include "../generated/nn/attention.h"
#include "attention.cuh"

namespace kvant::nn::attention {

using namespace detail;

constexpr int kQueries = 32;  // queries per block
constexpr int kKeys = 64;     // ATTENTION_KEY_TILE: the spec's online-softmax tile

template <int kSlices>  // ceil(d / 64): accumulators per thread = 8 * kSlices
static __global__ void __launch_bounds__(kAttnThreads) attentionKernel(Params p, const float* __restrict__ q, const float* __restrict__ k,
                                                                        const float* __restrict__ v, const int32_t* __restrict__ pos,
                                                                        float* __restrict__ o, float* __restrict__ lse) {
  __shared__ float qs[kQueries][kSlicePad];
  __shared__ float kvs[kKeys][kSlicePad];
  __shared__ float ps[kQueries][kKeys + 1];
  __shared__ int tileLo;
  const int t = static_cast<int>(p.t), d = static_cast<int>(p.d);
  const uint32_t qTiles = (p.t + kQueries - 1) / kQueries;
  const uint32_t qt = blockIdx.x % qTiles, bh = blockIdx.x / qTiles, hh = bh % p.h, bb = bh / p.h;
  const uint32_t g = hh / (p.h / p.h_kv);
  const int q0 = static_cast<int>(qt) * kQueries;
  const int rowsHere = t - q0 < kQueries ? t - q0 : kQueries;
  const int row = threadIdx.x >> 3, sub = threadIdx.x & 7;
  const int i = q0 + row;
  const bool active = row < rowsHere;
  const int lo = active ? attentionLo(pos, p.t, p.window, bb, i) : 0;
  if (threadIdx.x == 0) {
    int mn = 0x7fffffff;
    for (int r = 0; r < rowsHere; r++) {
      const int l = attentionLo(pos, p.t, p.window, bb, q0 + r);
      mn = l < mn ? l : mn;
    }
    tileLo = mn;
  }
  __syncthreads();
  const uint64_t qStride = 1ull * p.h * d, kStride = 1ull * p.h_kv * d;
  const float* qBase = q + ((1ull * bb * t + q0) * p.h + hh) * d;
  const uint64_t kvOffset = (1ull * bb * t * p.h_kv + g) * d;  // token j's row: + j * kStride

  float m = -INFINITY, l = 0.0f;
  float acc[8 * kSlices];
#pragma unroll
  for (int u = 0; u < 8 * kSlices; u++) acc[u] = 0.0f;
  const int iLast = q0 + rowsHere - 1;
  for (int j0 = tileLo / kKeys * kKeys; j0 <= iLast; j0 += kKeys) {
    const bool rowActive = active && j0 <= i && j0 + kKeys - 1 >= lo;
    const int keysHere = t - j0 < kKeys ? t - j0 : kKeys;
    // Scores: thread (row, sub) computes the dots of keys j0 + sub + 8u, each sequential over dd.
    float dot[8];
#pragma unroll
    for (int u = 0; u < 8; u++) dot[u] = 0.0f;
#pragma unroll
    for (int s = 0; s < kSlices; s++) {
      const int dc = s * kDimSlice;
      stageSlice<kQueries>(qs, qBase, qStride, rowsHere, dc, d);
      stageSlice<kKeys>(kvs, k + kvOffset + j0 * kStride, kStride, keysHere, dc, d);
      __syncthreads();
      const int width = d - dc < kDimSlice ? d - dc : kDimSlice;
      for (int cc = 0; cc < width; cc++) {
        const float a = qs[row][cc];
#pragma unroll
        for (int u = 0; u < 8; u++) dot[u] = __fadd_rn(dot[u], __fmul_rn(a, kvs[sub + 8 * u][cc]));
      }
      __syncthreads();
    }
    // The tile's max over J (order-free), then p_j = exp(s - mn); keys outside J get p = 0.
    float sc[8];
    bool valid[8];
    float mt = -INFINITY;
#pragma unroll
    for (int u = 0; u < 8; u++) {
      const int j = j0 + sub + 8 * u;
      valid[u] = rowActive && j >= lo && j <= i;
      sc[u] = __fmul_rn(dot[u], p.scale);
      if (valid[u]) mt = fmaxf(mt, sc[u]);
    }
    for (int off = 1; off < 8; off <<= 1) mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, off));
    const float mn = fmaxf(m, mt);
    const float alpha = m == -INFINITY ? 0.0f : expf(__fsub_rn(m, mn));
#pragma unroll
    for (int u = 0; u < 8; u++) ps[row][sub + 8 * u] = valid[u] ? expf(__fsub_rn(sc[u], mn)) : 0.0f;
    __syncthreads();
    if (rowActive) {
      float sum = 0.0f;
      for (int jj = 0; jj < kKeys; jj++) sum = __fadd_rn(sum, ps[row][jj]);
      l = __fadd_rn(__fmul_rn(l, alpha), sum);
    }
    // P·V: thread (row, sub) owns dims sub + 8uu of each slice, each a sequential sum over the tile's keys.
#pragma unroll
    for (int s = 0; s < kSlices; s++) {
      const int dc = s * kDimSlice;
      stageSlice<kKeys>(kvs, v + kvOffset + j0 * kStride, kStride, keysHere, dc, d);
      __syncthreads();
      if (rowActive) {
#pragma unroll
        for (int uu = 0; uu < 8; uu++) {
          const int cc = sub + 8 * uu;
          if (dc + cc < d) {
            float pv = 0.0f;
            for (int jj = 0; jj < kKeys; jj++) pv = __fadd_rn(pv, __fmul_rn(ps[row][jj], kvs[jj][cc]));
            acc[8 * s + uu] = __fadd_rn(__fmul_rn(acc[8 * s + uu], alpha), pv);
          }
        }
      }
      __syncthreads();
    }
    if (rowActive) m = mn;
  }
  if (!active) return;
  float* oRow = o + ((1ull * bb * t + i) * p.h + hh) * d;
#pragma unroll
  for (int s = 0; s < kSlices; s++)
#pragma unroll
    for (int uu = 0; uu < 8; uu++) {
      const int dd = s * kDimSlice + sub + 8 * uu;
      if (dd < d) oRow[dd] = __fdiv_rn(acc[8 * s + uu], l);
    }
  if (sub == 0) lse[(1ull * bb * p.h + hh) * t + i] = __fadd_rn(m, logf(l));
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  const unsigned blocks = p.b * p.h * ((p.t + kQueries - 1) / kQueries);
  switch ((p.d + kDimSlice - 1) / kDimSlice) {
    case 1: KVANT_LAUNCH(attentionKernel<1>, blocks, kAttnThreads, 0, stream, p, b.q, b.k, b.v, b.pos, b.o, b.lse); break;
    case 2: KVANT_LAUNCH(attentionKernel<2>, blocks, kAttnThreads, 0, stream, p, b.q, b.k, b.v, b.pos, b.o, b.lse); break;
    case 3: KVANT_LAUNCH(attentionKernel<3>, blocks, kAttnThreads, 0, stream, p, b.q, b.k, b.v, b.pos, b.o, b.lse); break;
    default: KVANT_LAUNCH(attentionKernel<4>, blocks, kAttnThreads, 0, stream, p, b.q, b.k, b.v, b.pos, b.o, b.lse); break;
  }
}

}  // namespace kvant::nn::attention
