// nn.argmax — the index of the largest value per row; ties to the lowest index; a NaN counts as the
// largest (the lowest NaN index wins), as torch.argmax. -0 == +0 (a tie).
// Shapes: x f32[n, v], ids i32[n].
// One idea: order-free, so any reduction of (value, index) pairs under one total order agrees: a
// block per row (grid-stride), each thread scanning its strided elements in increasing index (a
// strict `better` keeps the first), then a warp butterfly and one value per warp through shared
// memory, combining with `better` (NaN first, then larger, then lower index). A thread with no
// element starts from element 0, which can only tie with itself.
#include "../generated/nn/argmax.h"

namespace kvant::nn::argmax {

constexpr unsigned kThreads = 256;

struct Best {
  float x;
  uint32_t j;
};

/** a ranks before b: a NaN before any number, then the larger value, then (equal values or both NaN) the lower index. */
static __device__ __forceinline__ bool before(const Best& a, const Best& b) {
  const bool an = a.x != a.x, bn = b.x != b.x;
  if (an != bn) return an;
  if (!an && a.x != b.x) return a.x > b.x;
  return a.j < b.j;
}

static __device__ __forceinline__ Best pick(const Best& a, const Best& b) { return before(b, a) ? b : a; }

static __device__ __forceinline__ Best warpBest(Best b) {
  for (int off = 16; off >= 1; off >>= 1) {
    const Best o{__shfl_xor_sync(0xffffffffu, b.x, off), __shfl_xor_sync(0xffffffffu, b.j, off)};
    b = pick(b, o);
  }
  return b;
}

static __global__ void __launch_bounds__(kThreads) argmaxKernel(uint32_t n, uint32_t v, const float* __restrict__ x, int32_t* __restrict__ ids) {
  __shared__ float wx[kThreads / 32];
  __shared__ uint32_t wj[kThreads / 32];
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
  for (uint32_t r = blockIdx.x; r < n; r += gridDim.x) {
    const float* row = x + 1ull * r * v;
    const uint32_t first = threadIdx.x < v ? threadIdx.x : 0;
    Best b{__ldg(row + first), first};
    for (uint32_t j = threadIdx.x + kThreads; j < v; j += kThreads) b = pick(b, Best{__ldg(row + j), j});
    b = warpBest(b);
    if (lane == 0) {
      wx[warp] = b.x;
      wj[warp] = b.j;
    }
    __syncthreads();
    if (warp == 0) {
      Best w = lane < kThreads / 32 ? Best{wx[lane], wj[lane]} : Best{wx[0], wj[0]};
      w = warpBest(w);
      if (lane == 0) ids[r] = static_cast<int32_t>(w.j);
    }
    __syncthreads();  // wx, wj are rewritten for the next row
  }
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  const unsigned blocks = p.n < (1u << 16) ? p.n : (1u << 16);
  KVANT_LAUNCH(argmaxKernel, blocks, kThreads, 0, stream, p.n, p.v, b.x, b.ids);
}

}  // namespace kvant::nn::argmax
