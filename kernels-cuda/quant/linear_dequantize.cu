// quant.linear_dequantize — out[i] = f32(q[i] - zero[g]) * scale[g], g = i / group;
// q = codes[i] read as i8 when symmetric, u8 otherwise.
// Shapes: codes u8[n], scale f32[groups], zero i32[groups], out f32[n]; groups = ceil(n/group).
// One idea: one 32-bit word of codes (4 elements) in, one float4 out per thread. The group size
// is any positive integer, so each of the 4 elements finds its own group (a division per
// element: cheap next to the memory traffic). q - zero is a small integer (|q - zero| <= 510 for
// statistics made by quant.linear_quantize), exact in f32, so the product is the reference's.
#include "../generated/quant/linear_dequantize.h"

namespace kvant::quant::linear_dequantize {

static __device__ __forceinline__ float dequantOne(const Params& p, uint32_t raw, uint64_t i, const float* __restrict__ scale,
                                                   const int32_t* __restrict__ zero) {
  const uint64_t g = i / p.group;
  const int32_t q = p.symmetric ? static_cast<int32_t>(static_cast<int8_t>(raw)) : static_cast<int32_t>(raw);
  return __fmul_rn(static_cast<float>(q - __ldg(zero + g)), __ldg(scale + g));
}

static __global__ void linearDequantize(Params p, const uint8_t* __restrict__ codes, const float* __restrict__ scale,
                                        const int32_t* __restrict__ zero, float* __restrict__ out) {
  const uint64_t words = p.n / 4;
  const uint64_t stride = 1ull * gridDim.x * blockDim.x;
  const uint64_t first = 1ull * blockIdx.x * blockDim.x + threadIdx.x;
  const uint32_t* __restrict__ w32 = reinterpret_cast<const uint32_t*>(codes);
  float4* __restrict__ out4 = reinterpret_cast<float4*>(out);
  for (uint64_t w = first; w < words; w += stride) {
    const uint32_t v = __ldg(w32 + w);
    const uint64_t i = w * 4;
    float4 r;
    r.x = dequantOne(p, v & 255u, i, scale, zero);
    r.y = dequantOne(p, (v >> 8) & 255u, i + 1, scale, zero);
    r.z = dequantOne(p, (v >> 16) & 255u, i + 2, scale, zero);
    r.w = dequantOne(p, v >> 24, i + 3, scale, zero);
    out4[w] = r;
  }
  const uint64_t i = words * 4 + first;
  if (i < p.n) out[i] = dequantOne(p, codes[i], i, scale, zero);
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  const unsigned threads = 256;
  const uint64_t words = p.n / 4;
  const uint64_t blocks = ceilDiv(words > 0 ? words : 1, threads);
  const unsigned grid = static_cast<unsigned>(blocks < (1u << 20) ? blocks : (1u << 20));
  KVANT_LAUNCH(linearDequantize, grid, threads, 0, stream, p, b.codes, b.scale, b.zero, b.out);
}

}  // namespace kvant::quant::linear_dequantize
