// quant.dequantize_4bit_dq — 4-bit dequantization reading double-quantized statistics:
//   absmax_b = nested_code[qabsmax[b]] * nested_absmax[b / nested_blocksize] + offset  (multiply, then add: no fma)
//   out[i]   = code[nibble(i)] * absmax_{i / blocksize}
// Shapes: packed u8[ceil(n/2)], qabsmax u8[blocks], nested_absmax f32[ceil(blocks/nested_blocksize)],
//         nested_code f32[256], code f32[16], out f32[n]; blocks = ceil(n/blocksize).
// One idea: the loop of quant.dequantize_4bit (dequantize_4bit.cuh: 2 packed bytes -> one float4
// per thread), with the first-level absmax rebuilt per 4 elements from its 8-bit code. The
// 256-entry nested map goes to shared memory once per thread block; the rebuild is two loads
// (qabsmax and nested_absmax, both cache hits shared by a whole block of elements) and two
// rounded operations, hidden behind the stores.
#include "../generated/quant/dequantize_4bit_dq.h"
#include "dequantize_4bit.cuh"

namespace kvant::quant::dequantize_4bit_dq {

static __global__ void dequantize4bitDq(Params p, unsigned blockShift, unsigned nestedShift, const uint8_t* __restrict__ packed,
                                        const uint8_t* __restrict__ qabsmax, const float* __restrict__ nestedAbsmax,
                                        const float* __restrict__ nestedCode, const float* __restrict__ code,
                                        float* __restrict__ out) {
  __shared__ float table[16];
  __shared__ float nested[256];
  for (unsigned k = threadIdx.x; k < 256; k += blockDim.x) nested[k] = nestedCode[k];
  if (threadIdx.x < 16) table[threadIdx.x] = code[threadIdx.x];
  __syncthreads();
  // absmax of first-level block `blk`, exactly as the reference rounds it.
  detail::dequantize4bitElements(p.n, blockShift, packed, table, out, [&](uint64_t blk) {
    return __fadd_rn(__fmul_rn(nested[qabsmax[blk]], __ldg(nestedAbsmax + (blk >> nestedShift))), p.offset);
  });
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  const unsigned shift = static_cast<unsigned>(__builtin_ctz(p.blocksize));
  const unsigned nestedShift = static_cast<unsigned>(__builtin_ctz(p.nested_blocksize));
  KVANT_LAUNCH(dequantize4bitDq, detail::dequantize4bitGrid(p.n), detail::kDequantizeThreads, 0, stream, p, shift,
               nestedShift, b.packed, b.qabsmax, b.nested_absmax, b.nested_code, b.code, b.out);
}

}  // namespace kvant::quant::dequantize_4bit_dq
