// linalg.matmul_4bit_dq — linalg.matmul_4bit reading double-quantized statistics directly:
//   absmax_of(b) = f(f(nested_code[qabsmax[b]] * nested_absmax[b / nested_blocksize]) + offset)
//   (exactly as quant.dequantize_4bit_dq), then the same fused y = x·deq(W)ᵀ or x·deq(W).
// Shapes: x, packed, code, y as linalg.matmul_4bit; qabsmax u8[blocks]; nested_absmax f32[ceil(blocks/nested_blocksize)];
//         nested_code f32[256].
// One idea: the 4-bit tiled matmul (matmul_4bit.cuh) with a first-level absmax rebuilt per weight
// from its 8-bit code: the 256-entry nested map sits in shared memory, qabsmax and nested_absmax
// are cached loads shared by a whole block of weights, and the rebuild is two rounded operations.
#include "../generated/linalg/matmul_4bit_dq.h"
#include "matmul_4bit.cuh"

namespace kvant::linalg::matmul_4bit_dq {

namespace nb = nan_bits;

struct NestedAbsmax {
  const uint8_t* qabsmax;
  const float* nestedAbsmax;
  const float* nestedCodeGlobal;
  unsigned nestedShift;
  float offset;
  const float* nested = nullptr;  // the 256-entry map in shared memory (set by prepare)

  __device__ __forceinline__ void prepare() {
    __shared__ float table[256];
    for (unsigned k = threadIdx.x; k < 256; k += blockDim.x) table[k] = nestedCodeGlobal[k];
    nested = table;
  }
  __device__ __forceinline__ float load(uint32_t blk) const {
    return __fadd_rn(__fmul_rn(nested[__ldg(qabsmax + blk)], __ldg(nestedAbsmax + (blk >> nestedShift))), offset);
  }
  __device__ __forceinline__ float exact(uint32_t blk) const {
    return nb::add(nb::mul(nested[__ldg(qabsmax + blk)], __ldg(nestedAbsmax + (blk >> nestedShift))), offset);
  }
};

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  const NestedAbsmax stats{b.qabsmax, b.nested_absmax, b.nested_code, static_cast<unsigned>(__builtin_ctz(p.nested_blocksize)), p.offset};
  detail::launchMatmul4bit(p.m, p.n, p.k, p.trans, p.beta, p.blocksize, b.x, b.packed, b.code, stats, b.y, stream);
}

}  // namespace kvant::linalg::matmul_4bit_dq
