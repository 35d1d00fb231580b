// quant.blockwise8_dequantize — out[i] = code[q[i]] * absmax[i / blocksize] + offset
// (a multiply, then an add: no fma).
// Shapes: q u8[n], absmax f32[ceil(n/blocksize)], code f32[256], out f32[n].
// One idea: each thread reads one 32-bit word of codes (4 elements, which share a block since
// blocksize >= 64) and writes one float4; the 256-entry code lives in shared memory, loaded once
// per thread block, so the lookups never touch DRAM.
#include "../generated/quant/blockwise8_dequantize.h"

namespace kvant::quant::blockwise8_dequantize {

static __global__ void dequantize8(Params p, unsigned blockShift, const uint8_t* __restrict__ q, const float* __restrict__ absmax,
                                   const float* __restrict__ code, float* __restrict__ out) {
  __shared__ float table[256];
  for (unsigned k = threadIdx.x; k < 256; k += blockDim.x) table[k] = code[k];
  __syncthreads();

  const uint64_t words = p.n / 4;
  const uint64_t stride = 1ull * gridDim.x * blockDim.x;
  const uint64_t first = 1ull * blockIdx.x * blockDim.x + threadIdx.x;
  const uint32_t* __restrict__ w32 = reinterpret_cast<const uint32_t*>(q);
  float4* __restrict__ out4 = reinterpret_cast<float4*>(out);
  for (uint64_t w = first; w < words; w += stride) {
    const uint32_t v = __ldg(w32 + w);
    const float a = __ldg(absmax + ((w * 4) >> blockShift));
    float4 r;
    r.x = __fadd_rn(__fmul_rn(table[v & 255u], a), p.offset);
    r.y = __fadd_rn(__fmul_rn(table[(v >> 8) & 255u], a), p.offset);
    r.z = __fadd_rn(__fmul_rn(table[(v >> 16) & 255u], a), p.offset);
    r.w = __fadd_rn(__fmul_rn(table[v >> 24], a), p.offset);
    out4[w] = r;
  }
  const uint64_t i = words * 4 + first;  // the last n % 4 elements
  if (i < p.n) out[i] = __fadd_rn(__fmul_rn(table[q[i]], __ldg(absmax + (i >> blockShift))), p.offset);
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  const unsigned threads = 256;
  const uint64_t words = p.n / 4;
  const uint64_t blocks = ceilDiv(words > 0 ? words : 1, threads);
  const unsigned grid = static_cast<unsigned>(blocks < (1u << 20) ? blocks : (1u << 20));
  const unsigned shift = static_cast<unsigned>(__builtin_ctz(p.blocksize));
  KVANT_LAUNCH(dequantize8, grid, threads, 0, stream, p, shift, b.q, b.absmax, b.code, b.out);
}

}  // namespace kvant::quant::blockwise8_dequantize
