// matmul_tiled.cuh — the tiled f32 matmul core of linalg.matmul, linalg.matmul_4bit and
// linalg.matmul_4bit_dq:  C[t][i, j] = epilogue(sum over kk in order of f(opA(t, i, kk) * opB(t, kk, j)))
// for t < batch, i < M, j < N, kk < K. Where op(A) and op(B) come from (dense with or without a
// transpose, or 4-bit weights dequantized on the fly) is the loaders' business; how the sum lands
// in C (alpha, beta) is the epilogue's.
//
// One idea: the classic shared-memory sgemm, with the one constraint of the spec: every output's
// sum runs over kk in order, in one thread (no split-k, no tree, no fma). A block of 256 threads
// owns a BM x BN tile of C and walks K in steps of BK = 8: it stages op(A)[BM, 8] and op(B)[8, BN]
// in shared memory (k-major, so the inner loop reads float4s), and each thread accumulates a
// TM x TN register block (8x8 for the 128x128 tile, 4x4 for the 64x64 one): per kk, TM + TN
// shared loads feed TM*TN multiply-adds. The next K step's elements are fetched into registers
// while the current one is computed (one barrier pair per step). Each thread's rows and columns
// are two groups of 4 a half tile apart, so the float4 reads of a warp hit distinct banks.
// Tile loads map consecutive threads along whichever of (row, kk) is contiguous in memory, so
// global loads coalesce for every transpose; rows of 128 + 4 floats keep the transposed stores
// into shared memory conflict-free. Past the edges (M, N, K not multiples of the tile) elements
// are zero: a padded kk adds f(0 * 0) = +0, which leaves every sum unchanged (a sum that starts
// at +0 is never -0, and x + +0 == x bit for bit otherwise).
//
// NaN bits: the inner loop uses plain IEEE operations (a GPU returns a canonical NaN); an output
// that comes out NaN is recomputed alone, in order, with lib/nan_bits.cuh, so its bits are the
// reference's. NaN outputs are rare; that path costs nothing otherwise.
//
// Loader (A: row = i of M; B: row = j of N), passed by value:
//   void prepare()                         every thread, before the first barrier (shared tables)
//   bool kContiguous() const               consecutive kk adjacent in memory
//   float load(t, row, kk) const           the element, plain arithmetic
//   float exact(t, row, kk) const          the same with the reference's NaN bits
// Epilogue: void store(t, i, j, acc, exactAcc) const — exactAcc() recomputes acc with NaN bits.
#pragma once
#include "../kvant_cuda.h"
#include "../lib/nan_bits.cuh"

// Keep the rare NaN recomputation out of line (nvcc's __noinline__ clashes with glibc's use of
// __attribute__((__noinline__)) when the emulator defines it as a macro).
#if defined(KVANT_CUDA_EMU)
#define KVANT_NOINLINE __attribute__((noinline))
#else
#define KVANT_NOINLINE __noinline__
#endif

namespace kvant::linalg::detail {

constexpr unsigned kMatmulThreads = 256;
constexpr int kMatmulBK = 8;

/** Sum over kk in order with the reference's NaN bits: the recomputation of a NaN output. */
template <class LA, class LB>
__device__ KVANT_NOINLINE float exactDot(const LA& la, const LB& lb, uint32_t t, uint32_t i, uint32_t j, uint32_t k) {
  float acc = 0.0f;
  for (uint32_t kk = 0; kk < k; kk++) acc = nan_bits::add(acc, nan_bits::mul(la.exact(t, i, kk), lb.exact(t, j, kk)));
  return acc;
}

template <int BM, int BN, int TM, int TN, class LA, class LB, class EP>
__global__ void __launch_bounds__(kMatmulThreads)
    tiledMatmul(uint32_t m, uint32_t n, uint32_t k, uint32_t batch, uint32_t tilesN, LA laParam, LB lbParam, EP ep) {
  constexpr int BK = kMatmulBK;
  constexpr int EA = BM * BK / kMatmulThreads, EB = BN * BK / kMatmulThreads;  // tile elements per thread
  constexpr int SA = BM + 4, SB = BN + 4;                                      // padded shared rows
  static_assert((BM / TM) * (BN / TN) == kMatmulThreads, "one TM x TN block per thread");
  static_assert(TM % 4 == 0 && TN % 4 == 0, "float4 groups");
  __shared__ float4 As4[BK * SA / 4];
  __shared__ float4 Bs4[BK * SB / 4];
  float* As = reinterpret_cast<float*>(As4);
  float* Bs = reinterpret_cast<float*>(Bs4);

  LA la = laParam;
  LB lb = lbParam;
  la.prepare();
  lb.prepare();
  __syncthreads();

  const unsigned tid = threadIdx.x;
  const unsigned tx = tid % (BN / TN), ty = tid / (BN / TN);
  const uint32_t row0 = (blockIdx.x / tilesN) * BM, col0 = (blockIdx.x % tilesN) * BN;
  const bool aK = la.kContiguous(), bK = lb.kContiguous();
  // Row (col) of the thread's ii-th (jj-th) output: groups of 4, a half (quarter...) tile apart.
  const auto rowOf = [&](int ii) { return (ii / 4) * (BM / (TM / 4)) + ty * 4 + (ii % 4); };
  const auto colOf = [&](int jj) { return (jj / 4) * (BN / (TN / 4)) + tx * 4 + (jj % 4); };

  for (uint32_t t = blockIdx.y; t < batch; t += gridDim.y) {
    float acc[TM][TN];
#pragma unroll
    for (int ii = 0; ii < TM; ii++)
#pragma unroll
      for (int jj = 0; jj < TN; jj++) acc[ii][jj] = 0.0f;
    float ra[EA], rb[EB];
    // Element e of a tile: (row, kk) with consecutive threads along the contiguous one.
    const auto fetch = [&](uint32_t k0) {
#pragma unroll
      for (int e = 0; e < EA; e++) {
        const unsigned idx = tid + e * kMatmulThreads;
        const unsigned r = aK ? idx / BK : idx % BM, kk = aK ? idx % BK : idx / BM;
        const uint32_t gi = row0 + r, gk = k0 + kk;
        ra[e] = gi < m && gk < k ? la.load(t, gi, gk) : 0.0f;
      }
#pragma unroll
      for (int e = 0; e < EB; e++) {
        const unsigned idx = tid + e * kMatmulThreads;
        const unsigned r = bK ? idx / BK : idx % BN, kk = bK ? idx % BK : idx / BN;
        const uint32_t gj = col0 + r, gk = k0 + kk;
        rb[e] = gj < n && gk < k ? lb.load(t, gj, gk) : 0.0f;
      }
    };
    const auto stash = [&]() {
#pragma unroll
      for (int e = 0; e < EA; e++) {
        const unsigned idx = tid + e * kMatmulThreads;
        const unsigned r = aK ? idx / BK : idx % BM, kk = aK ? idx % BK : idx / BM;
        As[kk * SA + r] = ra[e];
      }
#pragma unroll
      for (int e = 0; e < EB; e++) {
        const unsigned idx = tid + e * kMatmulThreads;
        const unsigned r = bK ? idx / BK : idx % BN, kk = bK ? idx % BK : idx / BN;
        Bs[kk * SB + r] = rb[e];
      }
    };

    fetch(0);
    for (uint32_t k0 = 0; k0 < k; k0 += BK) {
      stash();
      __syncthreads();
      if (k0 + BK < k) fetch(k0 + BK);  // in flight while this step computes
#pragma unroll
      for (int kk = 0; kk < BK; kk++) {
        float a[TM], b[TN];
#pragma unroll
        for (int g = 0; g < TM / 4; g++) {
          const float4 v = As4[(kk * SA + g * (BM / (TM / 4)) + ty * 4) / 4];
          a[4 * g] = v.x, a[4 * g + 1] = v.y, a[4 * g + 2] = v.z, a[4 * g + 3] = v.w;
        }
#pragma unroll
        for (int g = 0; g < TN / 4; g++) {
          const float4 v = Bs4[(kk * SB + g * (BN / (TN / 4)) + tx * 4) / 4];
          b[4 * g] = v.x, b[4 * g + 1] = v.y, b[4 * g + 2] = v.z, b[4 * g + 3] = v.w;
        }
#pragma unroll
        for (int ii = 0; ii < TM; ii++)
#pragma unroll
          for (int jj = 0; jj < TN; jj++) acc[ii][jj] = __fadd_rn(acc[ii][jj], __fmul_rn(a[ii], b[jj]));
      }
      __syncthreads();
    }

#pragma unroll
    for (int ii = 0; ii < TM; ii++) {
      const uint32_t i = row0 + rowOf(ii);
#pragma unroll
      for (int jj = 0; jj < TN; jj++) {
        const uint32_t j = col0 + colOf(jj);
        if (i < m && j < n) ep.store(t, i, j, acc[ii][jj], [&]() { return exactDot(la, lb, t, i, j, k); });
      }
    }
  }
}

/** Launch the tiled matmul: the 128x128 tile (8x8 per thread) when it still fills the GPU, else 64x64 (4x4). */
template <class LA, class LB, class EP>
inline void launchTiledMatmul(uint32_t m, uint32_t n, uint32_t k, uint32_t batch, const LA& la, const LB& lb, const EP& ep,
                              kvantStream_t stream) {
  const uint32_t batchBlocks = batch < 65535u ? batch : 65535u;
  const uint64_t bigTiles = ceilDiv(m, 128) * ceilDiv(n, 128);
  if (bigTiles * batch >= 132) {  // at least one wave on a 132-SM H100/H200
    const uint32_t tilesN = static_cast<uint32_t>(ceilDiv(n, 128));
    KVANT_LAUNCH((tiledMatmul<128, 128, 8, 8, LA, LB, EP>), dim3(static_cast<unsigned>(bigTiles), batchBlocks), kMatmulThreads, 0,
                 stream, m, n, k, batch, tilesN, la, lb, ep);
  } else {
    const uint32_t tilesN = static_cast<uint32_t>(ceilDiv(n, 64));
    const uint64_t tiles = ceilDiv(m, 64) * tilesN;
    KVANT_LAUNCH((tiledMatmul<64, 64, 4, 4, LA, LB, EP>), dim3(static_cast<unsigned>(tiles), batchBlocks), kMatmulThreads, 0,
                 stream, m, n, k, batch, tilesN, la, lb, ep);
  }
}

/** A dense operand: op(X)(row, kk) of X stored [rows, k] (kContiguous) or [k, rows], one matrix per batch `stride` apart. */
struct DenseOperand {
  const float* x;
  uint32_t rows, k, transposed, stride;
  __device__ __forceinline__ void prepare() {}
  __device__ __forceinline__ bool kContiguous() const { return transposed == 0; }
  __device__ __forceinline__ float load(uint32_t t, uint32_t row, uint32_t kk) const {
    const float* base = x + 1ull * t * stride;
    return __ldg(base + (transposed == 0 ? 1ull * row * k + kk : 1ull * kk * rows + row));
  }
  __device__ __forceinline__ float exact(uint32_t t, uint32_t row, uint32_t kk) const { return load(t, row, kk); }
};

}  // namespace kvant::linalg::detail
