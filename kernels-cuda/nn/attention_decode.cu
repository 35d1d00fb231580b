// nn.attention_decode — nn.attention for the last t_q of t_k tokens against a KV cache. Query iq is
// token i = t_k - t_q + iq and attends cache rows j in [lo, i] (lo: its document start from pos[iq],
// then the window). s_ij = f(dot_ij * scale), dot sequential over dd. Per key tile K = [64kt, 64kt + 64)
// from key 0, over J = K ∩ [lo, i]: mn = max(m, max_J s); alpha = m == -Inf ? 0 : f(exp(f(m - mn)));
// p_j = f(exp(f(s_ij - mn))); l = f(f(l * alpha) + (sum_J p_j in order));
// acc[dd] = f(f(acc[dd] * alpha) + (sum_J f(p_j * v_j[dd]) in order)); m = mn. o = f(acc / l).
// Shapes: q, o f32[B, Tq, H, D]; k_cache, v_cache f32[B, S, Hkv, D] (rows < t_k valid); pos i32[B, Tq].
//
// One idea: a block of 64 threads per query row (b, hh, iq) — a decode step has one query per head,
// so there is no query tile to share. Per key tile, thread l owns key j0 + l (its dot in dd order,
// then its p, through shared memory) and dims l + 64u of the output (at most 4 accumulators in
// registers), each a sequential sum over the tile's keys; every thread folds the tile's 64 scores
// into the max and its 64 p's into l itself, so no reduction order is left open. The f32 operations
// are nn.attention's (attention.cu: __fmul_rn/__fadd_rn, expf, __fdiv_rn), so decode and full
// forward give the same bits. Reads of K and V are coalesced per thread only across rows (a
// thread's dot walks one row); fine for a step whose cost is the t_k·D reads of the cache.
#include "../generated/nn/attention_decode.h"

namespace kvant::nn::attention_decode {

constexpr int kThreads = 64;  // = ATTENTION_KEY_TILE: one key of a tile per thread
constexpr int kMaxAcc = 4;    // ATTENTION_MAX_D / kThreads

static __global__ void __launch_bounds__(kThreads) decodeKernel(Params p, const float* __restrict__ q, const float* __restrict__ kc,
                                                               const float* __restrict__ vc, const int32_t* __restrict__ pos,
                                                               float* __restrict__ o) {
  __shared__ float sc[kThreads];
  const uint32_t tq = p.t_q, d = p.d;
  const uint32_t iq = blockIdx.x % tq, hh = (blockIdx.x / tq) % p.h, bb = blockIdx.x / (tq * p.h);
  const uint32_t g = hh / (p.h / p.h_kv);
  const int i = static_cast<int>(p.t_k - tq + iq);
  const int P = __ldg(pos + 1ull * bb * tq + iq);
  int lo = i - (P < 0 ? 0 : (P < i ? P : i));
  if (p.window > 0) {
    const int64_t w = static_cast<int64_t>(i) - static_cast<int64_t>(p.window) + 1;
    if (w > lo) lo = static_cast<int>(w);
  }
  const int l = threadIdx.x;
  const float* qRow = q + ((1ull * bb * tq + iq) * p.h + hh) * d;
  const uint64_t row = 1ull * p.h_kv * d;
  const uint64_t kv0 = (1ull * bb * p.s * p.h_kv + g) * d;

  float m = -INFINITY, lsum = 0.0f;
  float acc[kMaxAcc];
#pragma unroll
  for (int c = 0; c < kMaxAcc; c++) acc[c] = 0.0f;
  for (int j0 = lo / kThreads * kThreads; j0 <= i; j0 += kThreads) {
    const int ja = lo > j0 ? lo : j0;
    const int jb = i + 1 < j0 + kThreads ? i + 1 : j0 + kThreads;
    const int j = j0 + l;
    const bool mine = j >= ja && j < jb;
    __syncthreads();  // the previous tile's p are read
    if (mine) {
      const float* kRow = kc + kv0 + j * row;
      float dot = 0.0f;
      for (uint32_t dd = 0; dd < d; dd++) dot = __fadd_rn(dot, __fmul_rn(__ldg(qRow + dd), __ldg(kRow + dd)));
      sc[l] = __fmul_rn(dot, p.scale);
    }
    __syncthreads();
    float mt = -INFINITY;
    for (int jj = ja; jj < jb; jj++) mt = fmaxf(mt, sc[jj - j0]);
    const float mn = fmaxf(m, mt);
    const float alpha = m == -INFINITY ? 0.0f : expf(__fsub_rn(m, mn));
    const float pj = mine ? expf(__fsub_rn(sc[l], mn)) : 0.0f;
    __syncthreads();  // every max is taken before sc holds p
    if (mine) sc[l] = pj;
    __syncthreads();
    float ps = 0.0f;
    for (int jj = ja; jj < jb; jj++) ps = __fadd_rn(ps, sc[jj - j0]);
    lsum = __fadd_rn(__fmul_rn(lsum, alpha), ps);
#pragma unroll
    for (int c = 0; c < kMaxAcc; c++) {
      const uint32_t dd = l + kThreads * c;
      if (dd < d) {
        float pv = 0.0f;
        for (int jj = ja; jj < jb; jj++) pv = __fadd_rn(pv, __fmul_rn(sc[jj - j0], __ldg(vc + kv0 + jj * row + dd)));
        acc[c] = __fadd_rn(__fmul_rn(acc[c], alpha), pv);
      }
    }
    m = mn;
  }
  float* oRow = o + ((1ull * bb * tq + iq) * p.h + hh) * d;
#pragma unroll
  for (int c = 0; c < kMaxAcc; c++) {
    const uint32_t dd = l + kThreads * c;
    if (dd < d) oRow[dd] = __fdiv_rn(acc[c], lsum);
  }
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  const unsigned blocks = p.b * p.h * p.t_q;
  KVANT_LAUNCH(decodeKernel, blocks, kThreads, 0, stream, p, b.q, b.k_cache, b.v_cache, b.pos, b.o);
}

}  // namespace kvant::nn::attention_decode
