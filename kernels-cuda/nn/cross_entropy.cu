// nn.cross_entropy — softmax cross-entropy per row with ignore_index, an online log-sum-exp over
// vocabulary chunks of 4096 (CROSS_ENTROPY_CHUNK); writes the loss and the lse for backward:
//   chunk q = [4096q, min(v, 4096q + 4096)): cm = max over it (a NaN never wins);
//   q == 0: m = cm, s = rowsum32(chunk, j -> f(exp(f(x_j - m))))
//   q > 0:  mn = max(m, cm); s = f(f(s * f(exp(f(m - mn)))) + rowsum32(chunk, j -> f(exp(f(x_j - mn))))); m = mn
//   lse = f(m + f(log(s))); loss = ignored ? +0.0 : 0 <= label < v ? f(f(m - x_label) + f(log(s))) : NaN
// Shapes: logits f32[n, v], labels i32[n], loss f32[n], lse f32[n].
// One idea: rowsum32's 32 lanes are a warp (lib/rowsum32.cuh), so a warp owns a row and walks its
// chunks: a strided max (warp butterfly, order-free), then the chunk's exp sum in the spec's lane
// order — its second read of the 16 KiB chunk comes from L1. 8 rows per block. expf and logf are
// CUDA's (2 and 1 ulp; never __expf/__logf), which the spec's `close` bound covers.
#include "../generated/nn/cross_entropy.h"
#include "../lib/rowsum32.cuh"

namespace kvant::nn::cross_entropy {

constexpr unsigned kThreads = 256;
constexpr unsigned kRowsPerBlock = kThreads / 32;
constexpr uint32_t kChunk = 4096;  // CROSS_ENTROPY_CHUNK in @kvant/abi

static __global__ void __launch_bounds__(kThreads) crossEntropyKernel(uint32_t n, uint32_t v, int32_t ignoreIndex, const float* __restrict__ logits,
                                                                       const int32_t* __restrict__ labels, float* __restrict__ loss,
                                                                       float* __restrict__ lse) {
  const uint32_t r = blockIdx.x * kRowsPerBlock + (threadIdx.x >> 5);
  if (r >= n) return;  // whole warps only
  const unsigned lane = threadIdx.x & 31u;
  const float* x = logits + 1ull * r * v;
  float m = 0.0f, s = 0.0f;
  for (uint32_t c0 = 0; c0 < v; c0 += kChunk) {
    const uint32_t c1 = v - c0 < kChunk ? v : c0 + kChunk;
    float cm = -INFINITY;
    for (uint32_t j = c0 + lane; j < c1; j += 32) cm = fmaxf(cm, __ldg(x + j));  // fmaxf skips a NaN, as `x > cm` does
    cm = warpMax(cm);
    const float mn = c0 == 0 ? cm : fmaxf(m, cm);
    const float cs = rowsum32(c0, c1, [&](uint32_t j) { return expf(__fsub_rn(__ldg(x + j), mn)); });
    s = c0 == 0 ? cs : __fadd_rn(__fmul_rn(s, expf(__fsub_rn(m, mn))), cs);
    m = mn;
  }
  if (lane != 0) return;
  const float logS = logf(s);
  lse[r] = __fadd_rn(m, logS);
  const int32_t label = __ldg(labels + r);
  loss[r] = label == ignoreIndex                             ? 0.0f
            : label >= 0 && static_cast<uint32_t>(label) < v ? __fadd_rn(__fsub_rn(m, __ldg(x + label)), logS)
                                                             : __uint_as_float(0x7fc00000u);
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  KVANT_LAUNCH(crossEntropyKernel, static_cast<unsigned>(ceilDiv(p.n, kRowsPerBlock)), kThreads, 0, stream, p.n, p.v, p.ignore_index, b.logits,
               b.labels, b.loss, b.lse);
}

}  // namespace kvant::nn::cross_entropy
