// nn.sample — temperature, top-k and top-p sampling per row from a given uniform u (deterministic):
//   invalid row (a z NaN or +Inf, or every z -Inf): -1. z_j = f(x_j * inv_temperature); rank the j
//   by z descending, equal z by lower j (-0 == +0); k = top_k == 0 ? v : min(top_k, v);
//   e_r = f(exp(f(z_(r) - z_(0)))), c_r = f(c_(r-1) + e_r) sequentially for r < k;
//   kp = top_p >= 1 ? k : the smallest r + 1 with c_r >= f(top_p * c_(k-1)); target = f(u * c_(kp-1));
//   ids[r] = j of the first rank r < kp with c_r > target (else rank kp - 1).
// Shapes: logits f32[n, v], uniforms f32[n], ids i32[n], work u32[n, 2v] (scratch).
//
// One idea: the ranking is a sort of distinct 64-bit keys — (~ordered(z)) << 32 | j, ordered() the
// monotone map of a float's bits to an unsigned, -0 taken as +0 — ascending, so the key order is
// exactly the spec's (z descending, then index); the row's `work` holds its v keys. A block per row
// sorts them with a bitonic network in the "every comparator ascending" form (the first stage of
// each merge compares mirrored positions), which sorts any v with virtual +inf keys past the end
// that never move, so a comparator that reaches past v is skipped. Merges of spans up to 2048 keys
// run in shared memory (16 KiB), larger spans' first stages in global memory (L2). Then the block
// computes the e_r in parallel (expf, 2 ulp: the spec keeps every u away from the boundaries this
// can move), and one thread does the spec's sequential cumulative sum and the two searches (binary:
// c is non-decreasing). Not yet timed on a GPU: the full sort is ~v·log²v/4 compare-swaps per row and
// the cumulative sum a chain of k dependent adds; a top-k-only selection would be faster for small k.
#include "../generated/nn/sample.h"

namespace kvant::nn::sample {

constexpr unsigned kThreads = 256;
constexpr uint32_t kLocal = 2048;  // keys merged in shared memory at once

/** The row's sort key of z at index j: ascending keys are z descending, then j ascending. */
static __device__ __forceinline__ uint64_t keyOf(float z, uint32_t j) {
  const uint32_t u = __float_as_uint(z == 0.0f ? 0.0f : z);  // -0 ranks as +0
  const uint32_t ordered = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return (static_cast<uint64_t>(~ordered) << 32) | j;
}

static __device__ __forceinline__ void compareSwap(uint64_t* a, uint64_t* b) {
  const uint64_t x = *a, y = *b;
  if (y < x) {
    *a = y;
    *b = x;
  }
}

/** Comparator c of a stage over spans of `size`: mirrored (first stage of a merge) or at `stride`. */
static __device__ __forceinline__ void pairOf(uint32_t c, uint32_t size, uint32_t stride, bool mirror, uint32_t& a, uint32_t& b) {
  if (mirror) {
    const uint32_t half = size / 2, base = c / half * size, p = c % half;
    a = base + p;
    b = base + size - 1 - p;
  } else {
    a = c / stride * 2 * stride + c % stride;
    b = a + stride;
  }
}

/** One stage over keys [0, n2) in global memory; comparators reaching v or past are skipped. */
static __device__ void globalStage(uint64_t* keys, uint32_t v, uint32_t n2, uint32_t size, uint32_t stride, bool mirror) {
  for (uint32_t c = threadIdx.x; c < n2 / 2; c += kThreads) {
    uint32_t a, b;
    pairOf(c, size, stride, mirror, a, b);
    if (b < v) compareSwap(keys + a, keys + b);
  }
  __syncthreads();
}

/**
 * Each tile of m keys (m a power of two <= kLocal, tiles aligned at m) through shared memory:
 * sort = true runs every merge of spans 2..m, else only the strides m/2..1 of the current merge.
 */
static __device__ void localTiles(uint64_t* keys, uint32_t v, uint32_t m, bool sort, uint64_t* tile) {
  for (uint32_t tb = 0; tb < v; tb += m) {
    for (uint32_t e = threadIdx.x; e < m; e += kThreads) tile[e] = tb + e < v ? keys[tb + e] : ~0ull;
    __syncthreads();
    for (uint32_t size = sort ? 2 : m; size <= m; size <<= 1) {
      for (uint32_t stride = size / 2; stride >= 1; stride >>= 1) {
        const bool mirror = sort && stride == size / 2;
        for (uint32_t c = threadIdx.x; c < m / 2; c += kThreads) {
          uint32_t a, b;
          pairOf(c, size, stride, mirror, a, b);
          compareSwap(tile + a, tile + b);
        }
        __syncthreads();
      }
    }
    for (uint32_t e = threadIdx.x; e < m && tb + e < v; e += kThreads) keys[tb + e] = tile[e];
    __syncthreads();
  }
}

static __device__ void sortKeys(uint64_t* keys, uint32_t v, uint64_t* tile) {
  uint32_t n2 = 1;
  while (n2 < v) n2 <<= 1;
  if (n2 == 1) return;
  const uint32_t m = n2 < kLocal ? n2 : kLocal;
  localTiles(keys, v, m, true, tile);
  for (uint32_t size = 2 * m; size <= n2; size <<= 1) {
    globalStage(keys, v, n2, size, size / 2, true);
    for (uint32_t stride = size / 4; stride >= m; stride >>= 1) globalStage(keys, v, n2, size, stride, false);
    localTiles(keys, v, m, false, tile);
  }
}

/** The first index in [0, count) whose cumulative sum (high word of keys) satisfies pred, or count. */
template <class Pred>
static __device__ __forceinline__ uint32_t firstWhere(const uint64_t* keys, uint32_t count, const Pred& pred) {
  uint32_t lo = 0, hi = count;  // c is non-decreasing, so pred is false then true
  while (lo < hi) {
    const uint32_t mid = lo + (hi - lo) / 2;
    if (pred(__uint_as_float(static_cast<uint32_t>(keys[mid] >> 32)))) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

static __global__ void __launch_bounds__(kThreads) sampleKernel(uint32_t n, uint32_t v, uint32_t topK, float topP, float invT,
                                                                 const float* __restrict__ logits, const float* __restrict__ uniform,
                                                                 int32_t* __restrict__ ids, uint32_t* __restrict__ work) {
  __shared__ uint64_t tile[kLocal];
  __shared__ int bad, finite;
  for (uint32_t r = blockIdx.x; r < n; r += gridDim.x) {
    const float* x = logits + 1ull * r * v;
    uint64_t* keys = reinterpret_cast<uint64_t*>(work) + 1ull * r * v;  // the row's 2v words
    if (threadIdx.x == 0) bad = finite = 0;
    __syncthreads();
    bool myBad = false, myFinite = false;
    for (uint32_t j = threadIdx.x; j < v; j += kThreads) {
      const float z = __fmul_rn(__ldg(x + j), invT);
      myBad |= z != z || z == INFINITY;
      myFinite |= z != -INFINITY;
      keys[j] = keyOf(z, j);
    }
    if (myBad) bad = 1;
    if (myFinite) finite = 1;
    __syncthreads();
    if (bad || !finite) {
      if (threadIdx.x == 0) ids[r] = -1;
      __syncthreads();  // bad and finite are reset for the next row
      continue;
    }
    sortKeys(keys, v, tile);
    const uint32_t k = topK == 0 || topK > v ? v : topK;
    const float z0 = __fmul_rn(__ldg(x + static_cast<uint32_t>(keys[0])), invT);
    __syncthreads();  // every thread has read keys[0] before rank 0 is rewritten
    for (uint32_t rr = threadIdx.x; rr < k; rr += kThreads) {
      const uint32_t j = static_cast<uint32_t>(keys[rr]);
      const float e = expf(__fsub_rn(__fmul_rn(__ldg(x + j), invT), z0));
      keys[rr] = (static_cast<uint64_t>(__float_as_uint(e)) << 32) | j;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      float c = 0.0f;
      for (uint32_t rr = 0; rr < k; rr++) {
        const uint64_t kv = keys[rr];
        c = __fadd_rn(c, __uint_as_float(static_cast<uint32_t>(kv >> 32)));
        keys[rr] = (static_cast<uint64_t>(__float_as_uint(c)) << 32) | (kv & 0xffffffffull);
      }
      uint32_t kp = k;
      if (topP < 1.0f) {
        const float want = __fmul_rn(topP, c);
        kp = firstWhere(keys, k, [&](float cr) { return cr >= want; }) + 1;  // c_(k-1) >= want: always found
      }
      const float target = __fmul_rn(__ldg(uniform + r), __uint_as_float(static_cast<uint32_t>(keys[kp - 1] >> 32)));
      uint32_t pick = firstWhere(keys, kp, [&](float cr) { return cr > target; });
      if (pick == kp) pick = kp - 1;
      ids[r] = static_cast<int32_t>(static_cast<uint32_t>(keys[pick]));
    }
    __syncthreads();  // the next row rewrites bad, finite and the tile
  }
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  const unsigned blocks = p.n < (1u << 16) ? p.n : (1u << 16);
  KVANT_LAUNCH(sampleKernel, blocks, kThreads, 0, stream, p.n, p.v, p.top_k, p.top_p, p.inv_temperature, b.logits, b.uniforms, b.ids, b.work);
}

}  // namespace kvant::nn::sample
