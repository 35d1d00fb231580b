// dequantize_4bit.cuh — the element loop shared by quant.dequantize_4bit and
// quant.dequantize_4bit_dq, which differ only in where a block's absmax comes from.
//
//   out[i] = code[nibble(i)] * absmaxOf(i / blocksize)      (one f32 multiply, no fma)
// Shapes: packed u8[ceil(n/2)] (byte j = code[2j] << 4 | code[2j+1]), table f32[16] in shared
//         memory, out f32[n].
//
// One idea: this is the hot kernel of a 4-bit linear layer, bound by its 4-byte-per-element
// store, so the stores must be perfect: each thread turns 2 packed bytes (one u16 load, 4
// elements) into one float4 store, so a warp's store instruction writes 512 contiguous bytes —
// whole 32-byte sectors, no partial-sector writes for L2 to merge — and its load reads 64
// contiguous bytes. (Two float4 stores per thread from a u32 would leave every store instruction
// half-filling each sector it touches.) The 4 elements share one absmax (blocksize >= 32), found
// with a shift since blocksize is a power of two. The 16-entry table sits in shared memory: 16
// consecutive floats occupy 16 different banks, so any mix of codes in a warp is served without
// bank conflicts (equal codes broadcast).
#pragma once
#include "../kvant_cuda.h"

namespace kvant::quant::detail {

/** Grid-stride loop over the elements of one dispatch; `absmaxOf(block)` gives a block's absmax. */
template <class AbsmaxOf>
__device__ __forceinline__ void dequantize4bitElements(uint64_t n, unsigned blockShift, const uint8_t* __restrict__ packed,
                                                       const float* table, float* __restrict__ out,
                                                       const AbsmaxOf& absmaxOf) {
  const uint64_t quads = n / 4;  // groups of 4 elements (2 packed bytes) all < n
  const uint64_t stride = 1ull * gridDim.x * blockDim.x;
  const uint64_t first = 1ull * blockIdx.x * blockDim.x + threadIdx.x;
  const uint16_t* __restrict__ p16 = reinterpret_cast<const uint16_t*>(packed);
  float4* __restrict__ out4 = reinterpret_cast<float4*>(out);
  for (uint64_t q = first; q < quads; q += stride) {
    // Little-endian: the low byte of the u16 holds elements 4q, 4q+1 (high nibble first).
    const uint32_t v = __ldg(p16 + q);
    const float a = absmaxOf((q * 4) >> blockShift);
    float4 r;
    r.x = __fmul_rn(table[(v >> 4) & 15u], a);
    r.y = __fmul_rn(table[v & 15u], a);
    r.z = __fmul_rn(table[(v >> 12) & 15u], a);
    r.w = __fmul_rn(table[(v >> 8) & 15u], a);
    out4[q] = r;
  }
  // The last n % 4 elements, one per thread of the first threads.
  const uint64_t i = quads * 4 + first;
  if (i < n) {
    const uint32_t byte = packed[i >> 1];
    const uint32_t nibble = (i & 1) ? (byte & 15u) : (byte >> 4);
    out[i] = __fmul_rn(table[nibble], absmaxOf(i >> blockShift));
  }
}

/** Threads per block and the grid for n elements (4 per thread, grid-stride beyond 2^20 blocks). */
constexpr unsigned kDequantizeThreads = 256;
inline unsigned dequantize4bitGrid(uint64_t n) {
  const uint64_t quads = n / 4;
  const uint64_t blocks = ceilDiv(quads > 0 ? quads : 1, kDequantizeThreads);
  return static_cast<unsigned>(blocks < (1u << 20) ? blocks : (1u << 20));
}

}  // namespace kvant::quant::detail
