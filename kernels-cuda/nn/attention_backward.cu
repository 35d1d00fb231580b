// nn.attention_backward — the gradient of nn.attention (FlashAttention-2's backward), recomputing P
// from the saved lse, every sum in the spec's fixed order, no atomics:
//   P_ij = f(exp(f(s_ij - lse_i))); delta_i = sum_dd f(dout_i * o_i) in order;
//   dP_ij = sum_dd f(dout_i[dd] * v_j[dd]) in order; dS_ij = f(P_ij * f(dP_ij - delta_i))
//   dq_i = f(scale * sum over j = lo..i of f(dS_ij * k_j));
//   for key j of kv head g, over the group's heads increasing, then queries i increasing (one sum):
//   dv_j = sum f(P_ij * dout_i); dk_j = f(scale * sum f(dS_ij * q_i)).
// Shapes: q, o, dout, dq f32[B, T, H, D]; k, v, dk, dv f32[B, T, Hkv, D]; pos i32[B, T];
//   lse f32[B, H, T]; delta f32[B, H, T] (scratch: the pre-pass writes delta_i there).
//
// One idea: three launches, each output written by its one owner (attention.cuh for the mappings):
//   1. deltaKernel: a thread per query row, delta_i sequential over dd, into the scratch binding.
//   2. dqKernel: a block per (b, h, 32 queries) walks key tiles of 32 in order: per tile the
//      (query, key) pairs' two dots (q·k and dout·v, sequential over dd, slices of 64 in shared
//      memory), then dS into shared memory, then thread (query, sub) adds dS_ij · k_j to its dims in
//      key order.
//   3. dkdvKernel: a block per (b, kv head, 32 keys) walks the group's heads, then query tiles of
//      32 in order (tiles no query of which sees these keys are skipped: their terms are zeros),
//      recomputing P and dS the same way (keys as rows), then thread (key, sub) adds P_ij · dout_i
//      and dS_ij · q_i in query order.
// Masked pairs contribute exact zeros (attention.cuh), so tiles are walked whole. No T x T buffer:
// P and dS exist one 32 x 32 tile at a time. exp is CUDA's expf (2 ulp; never __expf), which the
// spec's `close` bound covers. Not yet timed on a GPU.
#include "../generated/nn/attention_backward.h"
#include "attention.cuh"

namespace kvant::nn::attention_backward {

using namespace detail;

constexpr int kTile = 32;  // queries and keys per tile, both kernels

static __global__ void deltaKernel(Params p, const float* __restrict__ o, const float* __restrict__ dout, float* __restrict__ delta) {
  const uint64_t rows = 1ull * p.b * p.h * p.t;
  for (uint64_t e = 1ull * blockIdx.x * blockDim.x + threadIdx.x; e < rows; e += 1ull * gridDim.x * blockDim.x) {
    const uint32_t i = static_cast<uint32_t>(e % p.t), bh = static_cast<uint32_t>(e / p.t), hh = bh % p.h, bb = bh / p.h;
    const uint64_t qo = ((1ull * bb * p.t + i) * p.h + hh) * p.d;
    float s = 0.0f;
    for (uint32_t dd = 0; dd < p.d; dd++) s = __fadd_rn(s, __fmul_rn(__ldg(dout + qo + dd), __ldg(o + qo + dd)));
    delta[e] = s;  // layout [B, H, T]: e = (bb*h + hh)*t + i
  }
}

template <int kSlices>
static __global__ void __launch_bounds__(kAttnThreads) dqKernel(Params p, const float* __restrict__ q, const float* __restrict__ k,
                                                                 const float* __restrict__ v, const int32_t* __restrict__ pos,
                                                                 const float* __restrict__ lse, const float* __restrict__ dout,
                                                                 const float* __restrict__ delta, float* __restrict__ dq) {
  __shared__ float qs[kTile][kSlicePad];
  __shared__ float dos[kTile][kSlicePad];
  __shared__ float ks[kTile][kSlicePad];
  __shared__ float vs[kTile][kSlicePad];
  __shared__ float dss[kTile][kTile + 1];
  __shared__ int tileLo;
  const int t = static_cast<int>(p.t), d = static_cast<int>(p.d);
  const uint32_t qTiles = (p.t + kTile - 1) / kTile;
  const uint32_t qt = blockIdx.x % qTiles, bh = blockIdx.x / qTiles, hh = bh % p.h, bb = bh / p.h;
  const uint32_t g = hh / (p.h / p.h_kv);
  const int q0 = static_cast<int>(qt) * kTile;
  const int rowsHere = t - q0 < kTile ? t - q0 : kTile;
  const int row = threadIdx.x >> 3, sub = threadIdx.x & 7;
  const int i = q0 + row;
  const bool active = row < rowsHere;
  const int lo = active ? attentionLo(pos, p.t, p.window, bb, i) : 0;
  const uint64_t li = (1ull * bb * p.h + hh) * t + i;
  const float lseI = active ? __ldg(lse + li) : 0.0f, deltaI = active ? delta[li] : 0.0f;
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
  const uint64_t qOffset = ((1ull * bb * t + q0) * p.h + hh) * d;
  const uint64_t kvOffset = (1ull * bb * t * p.h_kv + g) * d;

  float acc[8 * kSlices];
#pragma unroll
  for (int u = 0; u < 8 * kSlices; u++) acc[u] = 0.0f;
  const int iLast = q0 + rowsHere - 1;
  for (int j0 = tileLo / kTile * kTile; j0 <= iLast; j0 += kTile) {
    const bool rowActive = active && j0 <= i && j0 + kTile - 1 >= lo;
    const int keysHere = t - j0 < kTile ? t - j0 : kTile;
    const float* kTileBase = k + kvOffset + j0 * kStride;
    float sd[4], pd[4];
#pragma unroll
    for (int u = 0; u < 4; u++) sd[u] = pd[u] = 0.0f;
#pragma unroll
    for (int s = 0; s < kSlices; s++) {
      const int dc = s * kDimSlice;
      stageSlice<kTile>(qs, q + qOffset, qStride, rowsHere, dc, d);
      stageSlice<kTile>(dos, dout + qOffset, qStride, rowsHere, dc, d);
      stageSlice<kTile>(ks, kTileBase, kStride, keysHere, dc, d);
      stageSlice<kTile>(vs, v + kvOffset + j0 * kStride, kStride, keysHere, dc, d);
      __syncthreads();
      const int width = d - dc < kDimSlice ? d - dc : kDimSlice;
      for (int cc = 0; cc < width; cc++) {
        const float a = qs[row][cc], gd = dos[row][cc];
#pragma unroll
        for (int u = 0; u < 4; u++) {
          sd[u] = __fadd_rn(sd[u], __fmul_rn(a, ks[sub + 8 * u][cc]));
          pd[u] = __fadd_rn(pd[u], __fmul_rn(gd, vs[sub + 8 * u][cc]));
        }
      }
      __syncthreads();
    }
#pragma unroll
    for (int u = 0; u < 4; u++) {
      const int j = j0 + sub + 8 * u;
      const bool valid = rowActive && j >= lo && j <= i;
      const float P = expf(__fsub_rn(__fmul_rn(sd[u], p.scale), lseI));
      dss[row][sub + 8 * u] = valid ? __fmul_rn(P, __fsub_rn(pd[u], deltaI)) : 0.0f;
    }
    __syncthreads();
    // dq: thread (row, sub) adds dS_ij · k_j[dd] over the tile's keys in order (ks holds the last slice).
#pragma unroll
    for (int s = 0; s < kSlices; s++) {
      const int dc = s * kDimSlice;
      if (kSlices > 1) {
        stageSlice<kTile>(ks, kTileBase, kStride, keysHere, dc, d);
        __syncthreads();
      }
      if (rowActive) {
#pragma unroll
        for (int uu = 0; uu < 8; uu++) {
          const int cc = sub + 8 * uu;
          if (dc + cc < d) {
            float a = acc[8 * s + uu];
            for (int jj = 0; jj < kTile; jj++) a = __fadd_rn(a, __fmul_rn(dss[row][jj], ks[jj][cc]));
            acc[8 * s + uu] = a;
          }
        }
      }
      __syncthreads();
    }
  }
  if (!active) return;
  float* dqRow = dq + ((1ull * bb * t + i) * p.h + hh) * d;
#pragma unroll
  for (int s = 0; s < kSlices; s++)
#pragma unroll
    for (int uu = 0; uu < 8; uu++) {
      const int dd = s * kDimSlice + sub + 8 * uu;
      if (dd < d) dqRow[dd] = __fmul_rn(p.scale, acc[8 * s + uu]);
    }
}

template <int kSlices>
static __global__ void __launch_bounds__(kAttnThreads) dkdvKernel(Params p, const float* __restrict__ q, const float* __restrict__ k,
                                                                   const float* __restrict__ v, const int32_t* __restrict__ pos,
                                                                   const float* __restrict__ lse, const float* __restrict__ dout,
                                                                   const float* __restrict__ delta, float* __restrict__ dk, float* __restrict__ dv) {
  __shared__ float ks[kTile][kSlicePad];
  __shared__ float vs[kTile][kSlicePad];
  __shared__ float qs[kTile][kSlicePad];
  __shared__ float dos[kTile][kSlicePad];
  __shared__ float pss[kTile][kTile + 1];
  __shared__ float dss[kTile][kTile + 1];
  const int t = static_cast<int>(p.t), d = static_cast<int>(p.d);
  const uint32_t kTiles = (p.t + kTile - 1) / kTile;
  const uint32_t kt = blockIdx.x % kTiles, bg = blockIdx.x / kTiles, g = bg % p.h_kv, bb = bg / p.h_kv;
  const uint32_t group = p.h / p.h_kv;
  const int j0 = static_cast<int>(kt) * kTile;
  const int keysHere = t - j0 < kTile ? t - j0 : kTile;
  const int jLast = j0 + keysHere - 1;
  const int row = threadIdx.x >> 3, sub = threadIdx.x & 7, lane = threadIdx.x & 31;
  const int j = j0 + row;
  const bool activeKey = row < keysHere;
  const uint64_t qStride = 1ull * p.h * d, kStride = 1ull * p.h_kv * d;
  const uint64_t kvOffset = ((1ull * bb * t + j0) * p.h_kv + g) * d;

  float accK[8 * kSlices], accV[8 * kSlices];
#pragma unroll
  for (int u = 0; u < 8 * kSlices; u++) accK[u] = accV[u] = 0.0f;
  for (uint32_t hh = g * group; hh < (g + 1) * group; hh++) {
    const uint64_t lseRow = (1ull * bb * p.h + hh) * t;
    for (int i0 = j0 / kTile * kTile; i0 < t; i0 += kTile) {
      const int queriesHere = t - i0 < kTile ? t - i0 : kTile;
      // Lane l of every warp reads query i0 + l's mask start, lse and delta (shuffled to the pairs
      // below); the ballot says whether any query of the tile sees one of these keys (the same in
      // every warp, so the skip is uniform).
      const int iq = i0 + lane;
      const bool present = lane < queriesHere;
      const int loQ = present ? attentionLo(pos, p.t, p.window, bb, iq) : 0x7fffffff;
      const float lseQ = present ? __ldg(lse + lseRow + iq) : 0.0f;
      const float deltaQ = present ? delta[lseRow + iq] : 0.0f;
      if (__ballot_sync(0xffffffffu, present && iq >= j0 && loQ <= jLast) == 0) continue;
      const uint64_t qOffset = ((1ull * bb * t + i0) * p.h + hh) * d;
      float sd[4], pd[4];
#pragma unroll
      for (int u = 0; u < 4; u++) sd[u] = pd[u] = 0.0f;
#pragma unroll
      for (int s = 0; s < kSlices; s++) {
        const int dc = s * kDimSlice;
        stageSlice<kTile>(ks, k + kvOffset, kStride, keysHere, dc, d);
        stageSlice<kTile>(vs, v + kvOffset, kStride, keysHere, dc, d);
        stageSlice<kTile>(qs, q + qOffset, qStride, queriesHere, dc, d);
        stageSlice<kTile>(dos, dout + qOffset, qStride, queriesHere, dc, d);
        __syncthreads();
        const int width = d - dc < kDimSlice ? d - dc : kDimSlice;
        for (int cc = 0; cc < width; cc++) {
          const float kk = ks[row][cc], vv = vs[row][cc];
#pragma unroll
          for (int u = 0; u < 4; u++) {
            sd[u] = __fadd_rn(sd[u], __fmul_rn(qs[sub + 8 * u][cc], kk));
            pd[u] = __fadd_rn(pd[u], __fmul_rn(dos[sub + 8 * u][cc], vv));
          }
        }
        __syncthreads();
      }
#pragma unroll
      for (int u = 0; u < 4; u++) {
        const int c = sub + 8 * u;  // query i0 + c, held by lane c of this warp
        const int loI = __shfl_sync(0xffffffffu, loQ, c);
        const float lseI = __shfl_sync(0xffffffffu, lseQ, c);
        const float deltaI = __shfl_sync(0xffffffffu, deltaQ, c);
        const int i = i0 + c;
        const bool valid = activeKey && c < queriesHere && loI <= j && j <= i;
        const float P = expf(__fsub_rn(__fmul_rn(sd[u], p.scale), lseI));
        pss[row][c] = valid ? P : 0.0f;
        dss[row][c] = valid ? __fmul_rn(P, __fsub_rn(pd[u], deltaI)) : 0.0f;
      }
      __syncthreads();
      // dv, dk: thread (key, sub) adds P_ij · dout_i and dS_ij · q_i over the tile's queries in order.
#pragma unroll
      for (int s = 0; s < kSlices; s++) {
        const int dc = s * kDimSlice;
        if (kSlices > 1) {
          stageSlice<kTile>(qs, q + qOffset, qStride, queriesHere, dc, d);
          stageSlice<kTile>(dos, dout + qOffset, qStride, queriesHere, dc, d);
          __syncthreads();
        }
        if (activeKey) {
#pragma unroll
          for (int uu = 0; uu < 8; uu++) {
            const int cc = sub + 8 * uu;
            if (dc + cc < d) {
              float av = accV[8 * s + uu], ak = accK[8 * s + uu];
              for (int ii = 0; ii < kTile; ii++) {
                av = __fadd_rn(av, __fmul_rn(pss[row][ii], dos[ii][cc]));
                ak = __fadd_rn(ak, __fmul_rn(dss[row][ii], qs[ii][cc]));
              }
              accV[8 * s + uu] = av;
              accK[8 * s + uu] = ak;
            }
          }
        }
        __syncthreads();
      }
    }
  }
  if (!activeKey) return;
  const uint64_t out = ((1ull * bb * t + j) * p.h_kv + g) * d;
#pragma unroll
  for (int s = 0; s < kSlices; s++)
#pragma unroll
    for (int uu = 0; uu < 8; uu++) {
      const int dd = s * kDimSlice + sub + 8 * uu;
      if (dd < d) {
        dv[out + dd] = accV[8 * s + uu];
        dk[out + dd] = __fmul_rn(p.scale, accK[8 * s + uu]);
      }
    }
}

template <int kSlices>
static void launchTiles(const Params& p, const Bindings& b, kvantStream_t stream) {
  const unsigned qBlocks = p.b * p.h * ((p.t + kTile - 1) / kTile);
  const unsigned kBlocks = p.b * p.h_kv * ((p.t + kTile - 1) / kTile);
  KVANT_LAUNCH(dqKernel<kSlices>, qBlocks, kAttnThreads, 0, stream, p, b.q, b.k, b.v, b.pos, b.lse, b.dout, b.delta, b.dq);
  KVANT_LAUNCH(dkdvKernel<kSlices>, kBlocks, kAttnThreads, 0, stream, p, b.q, b.k, b.v, b.pos, b.lse, b.dout, b.delta, b.dk, b.dv);
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  const uint64_t rows = 1ull * p.b * p.h * p.t;
  const uint64_t deltaBlocks = ceilDiv(rows, 256);
  KVANT_LAUNCH(deltaKernel, static_cast<unsigned>(deltaBlocks < (1u << 16) ? deltaBlocks : (1u << 16)), 256, 0, stream, p, b.o, b.dout, b.delta);
  switch ((p.d + kDimSlice - 1) / kDimSlice) {
    case 1: launchTiles<1>(p, b, stream); break;
    case 2: launchTiles<2>(p, b, stream); break;
    case 3: launchTiles<3>(p, b, stream); break;
    default: launchTiles<4>(p, b, stream); break;
  }
}

}  // namespace kvant::nn::attention_backward
