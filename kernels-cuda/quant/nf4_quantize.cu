// quant.nf4_quantize — blockwise NF4 quantization, byte-compatible with bitsandbytes
// quantize_4bit(quant_type="nf4").
//   absmax[b] = max |x| over the valid elements of block b (NaN ignored); s = x * (1/absmax[b]);
//   code = number of NF4 midpoints t with s > t (strict: a midpoint goes to the lower code); NaN -> 0.
// Shapes: x f32[n], packed u8[ceil(n/2)] (even element in the high nibble), absmax f32[ceil(n/blocksize)].
// One idea: the NF4 code is a sum of 15 branch-free compares against f32 constants generated from
// @kvant/abi's table (no table lookup, no divergence; a NaN fails every compare and gives 0).
// The block structure (registers, shuffle reduction) is in blockwise_4bit.cuh.
#include "../generated/quant/nf4_quantize.h"
#include "../generated/quant_tables.h"
#include "blockwise_4bit.cuh"

namespace kvant::quant::nf4_quantize {

struct Nf4 {
  __device__ __forceinline__ unsigned operator()(float s) const { return tables::nf4Code(s); }
};

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  detail::launchQuantize4bit<Nf4>(p.n, p.blocksize, b.x, b.packed, b.absmax, stream);
}

}  // namespace kvant::quant::nf4_quantize
