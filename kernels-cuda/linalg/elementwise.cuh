// elementwise.cuh — the grid-stride loop shared by the element-wise linalg kernels (add, scale,
// axpy, dropout) and the optimizer steps.
//
// One idea: these kernels are bound by memory bandwidth, so each thread moves 16 bytes per load
// and store: `quad(q)` handles elements 4q .. 4q+3 through float4 accesses (bindings are at least
// 16-byte aligned: cudaMalloc gives 256), so a warp's access covers 512 contiguous bytes; the
// last n % 4 elements go through `one(i)`, one per thread of the first threads. The grid is capped
// and strides, so any n runs with at most 2^16 blocks.
#pragma once
#include "../kvant_cuda.h"

namespace kvant::linalg::detail {

constexpr unsigned kElementwiseThreads = 256;

inline unsigned elementwiseGrid(uint64_t n) {
  const uint64_t quads = n / 4 > 0 ? n / 4 : 1;
  const uint64_t blocks = ceilDiv(quads, kElementwiseThreads);
  return static_cast<unsigned>(blocks < (1u << 16) ? blocks : (1u << 16));
}

template <class Quad, class One>
__device__ __forceinline__ void forEachElement(uint64_t n, const Quad& quad, const One& one) {
  const uint64_t quads = n / 4;
  const uint64_t stride = 1ull * gridDim.x * blockDim.x;
  const uint64_t first = 1ull * blockIdx.x * blockDim.x + threadIdx.x;
  for (uint64_t q = first; q < quads; q += stride) quad(q);
  const uint64_t i = quads * 4 + first;
  if (i < n) one(i);
}

}  // namespace kvant::linalg::detail
