// optim.adamw8bit_step — one step of bitsandbytes' 8-bit blockwise AdamW (blocks of 256).
//   g finite: m0 = f(code_signed[m_q] * m_absmax[b]); v0 = f(code_unsigned[v_q] * v_absmax[b])
//             m1 = f(f(beta1 * m0) + f(one_minus_beta1 * g)); v1 = f(f(beta2 * v0) + f(f(one_minus_beta2 * g) * g))
//             denom = f(sqrt(v1) + eps_hat) (f64, rounded once: adam.cuh); p = f(f(p - f(step_size * f(m1 / denom))) * decay)
//   g NaN/Inf: m1 = v1 = +0, p unchanged.
//   new absmax per block = max |m1|, max |v1| (NaN ignored); m_q = nearest(code_signed, m1 / am) with
//   bitsandbytes' sign fix; v_q = nearest(code_unsigned, v1 / av); a zero absmax gives the scaled value 0.
// Shapes: p, g f32[n]; m_q, v_q u8[n]; m_absmax, v_absmax f32[ceil(n/256)]; code_signed, code_unsigned f32[256].
// One idea: one thread block per state block, one thread per element: the element's m1 and v1
// stay in registers between the dequantize-update and the requantize, the two new absmax are block
// reductions (warp shuffles, then one value per warp: kvant_cuda.h blockMax), and both maps'
// midpoints sit in shared memory for the 8-probe searches (lib/nearest_code.cuh). Every element
// reads the old absmax before thread 0 overwrites it (blockMax's barriers order them).
#include "../generated/optim/adamw8bit_step.h"
#include "../lib/nan_bits.cuh"
#include "../lib/nearest_code.cuh"
#include "adam.cuh"

namespace kvant::optim::adamw8bit_step {

namespace nb = nan_bits;
constexpr unsigned kBlock = 256;  // ADAMW8BIT_BLOCK in @kvant/abi: one thread per element

// The reference's sign test: true for negative numbers and -0, false for NaN.
static __device__ __forceinline__ bool signbitRef(float x) { return x < 0.0f || (x == 0.0f && (__float_as_uint(x) >> 31)); }

static __global__ void adamw8bitKernel(Params q, float* __restrict__ p, const float* __restrict__ g, uint8_t* __restrict__ mq,
                                       uint8_t* __restrict__ vq, float* __restrict__ mAbsmax, float* __restrict__ vAbsmax,
                                       const float* __restrict__ codeSigned, const float* __restrict__ codeUnsigned) {
  __shared__ float cs[256], cu[256];
  __shared__ float midS[255], midU[255];
  __shared__ float scratch[32];
  for (unsigned k = threadIdx.x; k < 256; k += blockDim.x) {
    cs[k] = codeSigned[k];
    cu[k] = codeUnsigned[k];
  }
  lib::codeMidpoints(codeSigned, midS);
  lib::codeMidpoints(codeUnsigned, midU);
  __syncthreads();

  const uint32_t blk = blockIdx.x;
  const uint64_t i = 1ull * blk * kBlock + threadIdx.x;
  const bool valid = i < q.n;
  float m1 = 0.0f, v1 = 0.0f;
  if (valid) {
    const float gi = __ldg(g + i);
    if (fabsf(gi) < INFINITY) {  // finite (false for NaN and +-Inf)
      const float m0 = nb::mul(cs[mq[i]], mAbsmax[blk]);
      const float v0 = nb::mul(cu[vq[i]], vAbsmax[blk]);
      m1 = nb::add(nb::mul(q.beta1, m0), nb::mul(q.one_minus_beta1, gi));
      v1 = nb::add(nb::mul(q.beta2, v0), nb::mul(nb::mul(q.one_minus_beta2, gi), gi));
      const float denom = detail::sqrtAdd(v1, q.eps_hat);
      const float p1 = nb::sub(p[i], nb::mul(q.step_size, nb::div(m1, denom)));
      p[i] = nb::mul(p1, q.decay);  // bitsandbytes: the step, then the decoupled decay
    }
  }
  // Block absmax of the new states (an invalid thread offers 0, the identity; fmaxf ignores NaN).
  const float am = blockMax(fabsf(m1), scratch);
  const float av = blockMax(fabsf(v1), scratch);
  if (threadIdx.x == 0) {
    mAbsmax[blk] = am;
    vAbsmax[blk] = av;
  }
  if (!valid) return;
  const float sm = am > 0.0f ? nb::div(m1, am) : 0.0f;
  int codeM = static_cast<int>(lib::nearestCode(midS, sm));
  if (signbitRef(cs[codeM]) != signbitRef(m1)) codeM += m1 > 0.0f ? 1 : -1;  // keep m's sign
  const float sv = av > 0.0f ? nb::div(v1, av) : 0.0f;
  mq[i] = static_cast<uint8_t>(codeM);
  vq[i] = static_cast<uint8_t>(lib::nearestCode(midU, sv));
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  KVANT_LAUNCH(adamw8bitKernel, static_cast<unsigned>(ceilDiv(p.n, kBlock)), kBlock, 0, stream, p, b.p, b.g, b.m_q, b.v_q,
               b.m_absmax, b.v_absmax, b.code_signed, b.code_unsigned);
}

}  // namespace kvant::optim::adamw8bit_step
