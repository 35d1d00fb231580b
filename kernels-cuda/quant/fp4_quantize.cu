// quant.fp4_quantize — blockwise FP4 quantization, byte-compatible with bitsandbytes
// quantize_4bit(quant_type="fp4").
//   absmax as for NF4; s = x * (1/absmax[b]); code = (s < 0 ? 8 : 0) | the 3-bit FP4 magnitude code
//   nearest |s| (midpoints compared strictly: ties go to the lower magnitude); NaN -> 0.
// Shapes: x f32[n], packed u8[ceil(n/2)] (even element in the high nibble), absmax f32[ceil(n/blocksize)].
// One idea: the magnitude rank is a sum of 7 branch-free compares; the rank -> bit-pattern map
// (FP4 codes are not sorted by value) is a 24-bit constant shifted by 3 * rank, so the whole code
// stays in registers. The block structure is in blockwise_4bit.cuh.
#include "../generated/quant/fp4_quantize.h"
#include "../generated/quant_tables.h"
#include "blockwise_4bit.cuh"

namespace kvant::quant::fp4_quantize {

struct Fp4 {
  __device__ __forceinline__ unsigned operator()(float s) const { return tables::fp4Code(s); }
};

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  detail::launchQuantize4bit<Fp4>(p.n, p.blocksize, b.x, b.packed, b.absmax, stream);
}

}  // namespace kvant::quant::fp4_quantize
