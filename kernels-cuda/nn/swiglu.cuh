// swiglu.cuh — silu as nn.swiglu and nn.swiglu_backward write it: f(g / f(1 + ex)), ex = f(exp(-g)).
// expf (CUDA: 2 ulp; never __expf), IEEE division; the outputs are `close`, so plain operations
// (a NaN's payload may differ from the reference's).
#pragma once
#include "../kvant_cuda.h"

namespace kvant::nn::detail {

__device__ __forceinline__ float siluOf(float g, float ex) { return __fdiv_rn(g, __fadd_rn(1.0f, ex)); }
__device__ __forceinline__ float silu(float g) { return siluOf(g, expf(-g)); }

}  // namespace kvant::nn::detail
