// quant.dequantize_4bit_dq — 4-bit dequantization reading double-quantized statistics:
//   absmax_b = nested_code[qabsmax[b]] * nested_absmax[b / nested_blocksize] + offset  (multiply, then add: no fma)
//   out[i]   = code[nibble(i)] * absmax_{i / blocksize}
// Shapes: packed u8[ceil(n/2)], qabsmax u8[blocks], nested_absmax f32[ceil(blocks/nested_blocksize)],
//         nested_code f32[256], code f32[16], out f32[n]; blocks = ceil(n/blocksize).
// One idea: the layout of quant.dequantize_4bit (2 packed bytes -> one float4 per thread, so a
// warp stores 512 contiguous bytes), with the first-level absmax rebuilt per 4 elements from its
// 8-bit code. The 256-entry nested map goes to shared memory once per thread block; the rebuild
// is two loads (qabsmax and nested_absmax, both cache hits shared by a whole block of elements)
// and two rounded operations, hidden behind the stores.
#include "../generated/quant/dequantize_4bit_dq.h"

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
  auto absmaxOf = [&](uint64_t blk) {
    return __fadd_rn(__fmul_rn(nested[qabsmax[blk]], __ldg(nestedAbsmax + (blk >> nestedShift))), p.offset);
  };

  const uint64_t quads = p.n / 4;  // groups of 4 elements (2 packed bytes) all < n
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
  const uint64_t i = quads * 4 + first;  // the last n % 4 elements
  if (i < p.n) {
    const uint32_t byte = packed[i >> 1];
    const uint32_t nibble = (i & 1) ? (byte & 15u) : (byte >> 4);
    out[i] = __fmul_rn(table[nibble], absmaxOf(i >> blockShift));
  }
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  const unsigned threads = 256;
  const uint64_t quads = p.n / 4;
  const uint64_t blocks = ceilDiv(quads > 0 ? quads : 1, threads);
  const unsigned grid = static_cast<unsigned>(blocks < (1u << 20) ? blocks : (1u << 20));
  const unsigned shift = static_cast<unsigned>(__builtin_ctz(p.blocksize));
  const unsigned nestedShift = static_cast<unsigned>(__builtin_ctz(p.nested_blocksize));
  KVANT_LAUNCH(dequantize4bitDq, grid, threads, 0, stream, p, shift, nestedShift, b.packed, b.qabsmax, b.nested_absmax,
               b.nested_code, b.code, b.out);
}

}  // namespace kvant::quant::dequantize_4bit_dq
