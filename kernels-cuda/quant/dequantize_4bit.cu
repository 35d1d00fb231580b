// quant.dequantize_4bit — out[i] = code[nibble(i)] * absmax[i / blocksize] (NF4 or FP4 table).
// Shapes: packed u8[ceil(n/2)] (byte j = code[2j] << 4 | code[2j+1]), absmax f32[ceil(n/blocksize)],
//         code f32[16], out f32[n].
// One idea: this is the hot kernel of a 4-bit linear layer, bound by its 4-byte-per-element
// store, so the stores must be perfect: each thread turns 2 packed bytes (one u16 load, 4
// elements) into one float4 store, so a warp's store instruction writes 512 contiguous bytes —
// whole 32-byte sectors, no partial-sector writes for L2 to merge — and its load reads 64
// contiguous bytes. (Two float4 stores per thread from a u32 would leave every store instruction
// half-filling each sector it touches.) The 4 elements share one absmax (blocksize >= 32), found
// with a shift since blocksize is a power of two. The 16-entry table sits in shared memory: 16
// consecutive floats occupy 16 different banks, so any mix of codes in a warp is served without
// bank conflicts (equal codes broadcast).
#include "../generated/quant/dequantize_4bit.h"

namespace kvant::quant::dequantize_4bit {

static __global__ void dequantize4bit(Params p, unsigned blockShift, const uint8_t* __restrict__ packed,
                                      const float* __restrict__ absmax, const float* __restrict__ code,
                                      float* __restrict__ out) {
  __shared__ float table[16];
  if (threadIdx.x < 16) table[threadIdx.x] = code[threadIdx.x];
  __syncthreads();

  const uint64_t quads = p.n / 4;  // groups of 4 elements (2 packed bytes) all < n
  const uint64_t stride = 1ull * gridDim.x * blockDim.x;
  const uint64_t first = 1ull * blockIdx.x * blockDim.x + threadIdx.x;
  const uint16_t* __restrict__ p16 = reinterpret_cast<const uint16_t*>(packed);
  float4* __restrict__ out4 = reinterpret_cast<float4*>(out);
  for (uint64_t q = first; q < quads; q += stride) {
    // Little-endian: the low byte of the u16 holds elements 4q, 4q+1 (high nibble first).
    const uint32_t v = __ldg(p16 + q);
    const float a = __ldg(absmax + ((q * 4) >> blockShift));
    float4 r;
    r.x = __fmul_rn(table[(v >> 4) & 15u], a);
    r.y = __fmul_rn(table[v & 15u], a);
    r.z = __fmul_rn(table[(v >> 12) & 15u], a);
    r.w = __fmul_rn(table[(v >> 8) & 15u], a);
    out4[q] = r;
  }
  // The last n % 4 elements, one per thread of the first threads.
  const uint64_t i = quads * 4 + first;
  if (i < p.n) {
    const uint32_t byte = packed[i >> 1];
    const uint32_t nibble = (i & 1) ? (byte & 15u) : (byte >> 4);
    out[i] = __fmul_rn(table[nibble], __ldg(absmax + (i >> blockShift)));
  }
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  const unsigned threads = 256;
  const uint64_t quads = p.n / 4;
  const uint64_t blocks = ceilDiv(quads > 0 ? quads : 1, threads);
  const unsigned grid = static_cast<unsigned>(blocks < (1u << 20) ? blocks : (1u << 20));
  const unsigned shift = static_cast<unsigned>(__builtin_ctz(p.blocksize));
  KVANT_LAUNCH(dequantize4bit, grid, threads, 0, stream, p, shift, b.packed, b.absmax, b.code, b.out);
}

}  // namespace kvant::quant::dequantize_4bit
