// half16.cuh — exact widening of a bf16 or f16 element to the bits of an f32 (quant.dequantize_16bit,
// linalg.matmul_16bit). Integer operations only: no __half type, no conversion intrinsic whose
// denormal handling depends on flags, and NaN payloads move over unchanged.
//   bf16 (format 0): h << 16
//   f16 (format 1): exponent 31: sign | 0x7f800000 | mt << 13 (inf, NaN with its payload);
//     normal: sign | ((h & 0x7fff) << 13) + (112 << 23);
//     subnormal mt * 2^-24 = 2^(p - 24) * 1.f, p the top set bit of mt: exponent p + 103, mantissa mt << (23 - p).
// Halves sit two per u32 word, element e in bits 16 * (e % 2).. of word e / 2: a little-endian u16 array.
#pragma once
#include <stdint.h>
#include "../kvant_cuda.h"

namespace kvant::half16 {

__host__ __device__ __forceinline__ uint32_t topBit(uint32_t v) {  // v != 0
#if defined(__CUDA_ARCH__)
  return 31u - static_cast<uint32_t>(__clz(v));
#else
  return 31u - static_cast<uint32_t>(__builtin_clz(v));
#endif
}

__host__ __device__ __forceinline__ uint32_t f16Bits(uint32_t h) {
  const uint32_t sign = (h & 0x8000u) << 16, ex = h & 0x7c00u, mt = h & 0x3ffu;
  if (ex == 0x7c00u) return sign | 0x7f800000u | (mt << 13);
  if (ex != 0u) return sign | (((h & 0x7fffu) << 13) + (112u << 23));
  if (mt == 0u) return sign;
  const uint32_t p = topBit(mt);
  return sign | ((p + 103u) << 23) | ((mt << (23u - p)) & 0x7fffffu);
}

__host__ __device__ __forceinline__ uint32_t wideBits(uint32_t h, uint32_t format) { return format == 0u ? h << 16 : f16Bits(h); }

/** Element e of the halves at `w` (read through the read-only cache). */
__device__ __forceinline__ uint32_t halfAt(const uint16_t* w, uint64_t e) { return __ldg(w + e); }

}  // namespace kvant::half16
