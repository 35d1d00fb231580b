// nn.cross_entropy_backward — the cross-entropy gradient in place over the logits, from the saved lse:
//   ignored row: every element +0.0; else p = f(exp(f(x_j - lse[r]))); g = j == label ? f(p - 1) : p;
//   dlogits[r, j] = f(g * dloss[r])
// Shapes: dlogits f32[n, v] (logits in, gradient out), labels i32[n], lse f32[n], dloss f32[n].
// One idea: element-wise given lse, so nothing V-sized besides the tensor itself: a block per row
// (grid-stride over rows), its threads striding over the vocabulary — each element read, then
// overwritten by the same thread, coalesced. expf is CUDA's (2 ulp), within the spec's bound.
#include "../generated/nn/cross_entropy_backward.h"

namespace kvant::nn::cross_entropy_backward {

constexpr unsigned kThreads = 256;

static __global__ void __launch_bounds__(kThreads) crossEntropyBackwardKernel(uint32_t n, uint32_t v, int32_t ignoreIndex, float* __restrict__ dlogits,
                                                                               const int32_t* __restrict__ labels, const float* __restrict__ lse,
                                                                               const float* __restrict__ dloss) {
  for (uint32_t r = blockIdx.x; r < n; r += gridDim.x) {
    float* x = dlogits + 1ull * r * v;
    const int32_t label = __ldg(labels + r);
    if (label == ignoreIndex) {
      for (uint32_t j = threadIdx.x; j < v; j += kThreads) x[j] = 0.0f;
      continue;
    }
    const float ls = __ldg(lse + r), dl = __ldg(dloss + r);
    for (uint32_t j = threadIdx.x; j < v; j += kThreads) {
      const float p = expf(__fsub_rn(x[j], ls));
      x[j] = __fmul_rn(static_cast<int64_t>(j) == label ? __fsub_rn(p, 1.0f) : p, dl);
    }
  }
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  const unsigned blocks = p.n < (1u << 16) ? p.n : (1u << 16);
  KVANT_LAUNCH(crossEntropyBackwardKernel, blocks, kThreads, 0, stream, p.n, p.v, p.ignore_index, b.dlogits, b.labels, b.lse, b.dloss);
}

}  // namespace kvant::nn::cross_entropy_backward
