// quant.dequantize_16bit — out[e] = element e of w (bf16 for format 0, f16 for format 1) widened to
// f32 exactly: subnormals, inf and NaN payloads included (lib/half16.cuh).
// Shapes: w u32[ceil(n/2)] (two halves per word, element e in bits 16*(e%2)..); out f32[n].
// One idea: pure bandwidth (6 bytes per element): each thread reads four halves as one 8-byte load
// and writes one float4, grid-striding; integer operations only, so no bit of a NaN changes.
#include "../generated/quant/dequantize_16bit.h"
#include "../lib/half16.cuh"

namespace kvant::quant::dequantize_16bit {

constexpr unsigned kThreads = 256;

static __global__ void dequantize16bit(uint32_t n, uint32_t format, const uint32_t* __restrict__ w, float* __restrict__ out) {
  const uint64_t quads = n / 4;
  const uint64_t stride = 1ull * gridDim.x * blockDim.x;
  const uint64_t first = 1ull * blockIdx.x * blockDim.x + threadIdx.x;
  const uint2* w2 = reinterpret_cast<const uint2*>(w);
  float4* out4 = reinterpret_cast<float4*>(out);
  for (uint64_t q = first; q < quads; q += stride) {
    const uint2 v = __ldg(w2 + q);
    out4[q] = make_float4(__uint_as_float(half16::wideBits(v.x & 0xffffu, format)), __uint_as_float(half16::wideBits(v.x >> 16, format)),
                          __uint_as_float(half16::wideBits(v.y & 0xffffu, format)), __uint_as_float(half16::wideBits(v.y >> 16, format)));
  }
  const uint64_t i = quads * 4 + first;
  if (i < n) out[i] = __uint_as_float(half16::wideBits(half16::halfAt(reinterpret_cast<const uint16_t*>(w), i), format));
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  const uint64_t quads = p.n / 4 > 0 ? p.n / 4 : 1;
  const uint64_t blocks = ceilDiv(quads, kThreads);
  const unsigned grid = static_cast<unsigned>(blocks < (1u << 16) ? blocks : (1u << 16));
  KVANT_LAUNCH(dequantize16bit, grid, kThreads, 0, stream, p.n, p.format, b.w, b.out);
}

}  // namespace kvant::quant::dequantize_16bit
