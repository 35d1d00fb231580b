// quant.dequantize_4bit — out[i] = code[nibble(i)] * absmax[i / blocksize] (NF4 or FP4 table).
// Shapes: packed u8[ceil(n/2)] (byte j = code[2j] << 4 | code[2j+1]), absmax f32[ceil(n/blocksize)],
//         code f32[16], out f32[n].
// One idea: 2 packed bytes in, one float4 out per thread, so every warp store writes 512
// contiguous bytes (the loop and why: dequantize_4bit.cuh); the absmax is one cached load.
#include "../generated/quant/dequantize_4bit.h"
#include "dequantize_4bit.cuh"

namespace kvant::quant::dequantize_4bit {

static __global__ void dequantize4bit(Params p, unsigned blockShift, const uint8_t* __restrict__ packed,
                                      const float* __restrict__ absmax, const float* __restrict__ code,
                                      float* __restrict__ out) {
  __shared__ float table[16];
  if (threadIdx.x < 16) table[threadIdx.x] = code[threadIdx.x];
  __syncthreads();
  detail::dequantize4bitElements(p.n, blockShift, packed, table, out, [&](uint64_t blk) { return __ldg(absmax + blk); });
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  const unsigned shift = static_cast<unsigned>(__builtin_ctz(p.blocksize));
  KVANT_LAUNCH(dequantize4bit, detail::dequantize4bitGrid(p.n), detail::kDequantizeThreads, 0, stream, p, shift, b.packed,
               b.absmax, b.code, b.out);
}

}  // namespace kvant::quant::dequantize_4bit
