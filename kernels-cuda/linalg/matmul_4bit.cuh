// matmul_4bit.cuh — what linalg.matmul_4bit and linalg.matmul_4bit_dq share: the 4-bit weight as a
// B loader of the tiled matmul (matmul_tiled.cuh), and their epilogue. They differ only in where a
// block's absmax comes from (the `AbsmaxOf` policy).
//   deq(W)[r, c] = f(code[nibble(e)] * absmax_of(e / blocksize)), e = r*k + c (flat; blocks may span rows)
//   trans 0: y[m, n] = x[m, k]·deq(W)ᵀ   — op(B)(kk, j) = deq(W)[j, kk], k-contiguous
//   trans 1: y[m, k] = x[m, n]·deq(W)    — op(B)(kk, j) = deq(W)[kk, j], contiguous along j
//   y = beta == 0 ? acc : f(acc + f(beta * y))   (no alpha)
// Shapes: x f32[m, k or n]; packed u8[ceil(n*k/2)] (even element in the high nibble); code f32[16]; y f32[m, n or k].
//
// One idea: W is dequantized while the tile is loaded: each thread turns the 4 (or 2) weights it
// stages per K step into f32 in registers on their way to shared memory (a nibble, one absmax
// load that L1 serves to the whole block, the 16-entry code table in shared memory, one multiply),
// so a full f32 copy of W never exists and each dequantized weight then feeds 64 or 128 outputs
// of the block from shared memory like a dense one: the inner loop is the dense matmul's.
#pragma once
#include "matmul_tiled.cuh"

namespace kvant::linalg::detail {

template <class AbsmaxOf>
struct FourBitOperand {
  const uint8_t* packed;
  const float* codeGlobal;
  uint32_t wk;       // columns of W (in-features k)
  uint32_t trans;    // the kernel's trans
  unsigned shift;    // log2(blocksize)
  AbsmaxOf absmaxOf;
  const float* code = nullptr;  // the 16 code values in shared memory (set by prepare)

  __device__ __forceinline__ void prepare() {
    __shared__ float table[16];
    if (threadIdx.x < 16) table[threadIdx.x] = codeGlobal[threadIdx.x];
    code = table;
    absmaxOf.prepare();
  }
  __device__ __forceinline__ bool kContiguous() const { return trans == 0; }
  __device__ __forceinline__ uint32_t flat(uint32_t j, uint32_t kk) const { return trans == 0 ? j * wk + kk : kk * wk + j; }
  __device__ __forceinline__ float nibbleValue(uint32_t e) const {
    const uint32_t byte = __ldg(packed + (e >> 1));
    return code[(e & 1u) ? (byte & 15u) : (byte >> 4)];
  }
  __device__ __forceinline__ float load(uint32_t, uint32_t j, uint32_t kk) const {
    const uint32_t e = flat(j, kk);
    return __fmul_rn(nibbleValue(e), absmaxOf.load(e >> shift));
  }
  __device__ __forceinline__ float exact(uint32_t, uint32_t j, uint32_t kk) const {
    const uint32_t e = flat(j, kk);
    return nan_bits::mul(nibbleValue(e), absmaxOf.exact(e >> shift));
  }
};

/** y's epilogue: the sum itself, plus beta times the old y (read only when beta != 0). */
struct FourBitOutput {
  float* y;
  uint32_t ny;
  float beta;
  template <class ExactAcc>
  __device__ __forceinline__ void store(uint32_t, uint32_t i, uint32_t j, float acc, const ExactAcc& exactAcc) const {
    float* yi = y + 1ull * i * ny + j;
    const float old = beta != 0.0f ? *yi : 0.0f;
    float r = beta != 0.0f ? __fadd_rn(acc, __fmul_rn(beta, old)) : acc;
    if (nan_bits::isNaNf(r)) {
      r = exactAcc();
      if (beta != 0.0f) r = nan_bits::add(r, nan_bits::mul(beta, old));
    }
    *yi = r;
  }
};

/** Launch y = x·deq(W)ᵀ (trans 0) or x·deq(W) (trans 1) with the given absmax policy. */
template <class AbsmaxOf>
inline void launchMatmul4bit(uint32_t m, uint32_t n, uint32_t k, uint32_t trans, float beta, uint32_t blocksize, const float* x,
                             const uint8_t* packed, const float* code, const AbsmaxOf& absmaxOf, float* y, kvantStream_t stream) {
  const uint32_t ksum = trans == 0 ? k : n, ny = trans == 0 ? n : k;
  const DenseOperand a{x, m, ksum, 0u, 0u};
  const FourBitOperand<AbsmaxOf> w{packed, code, k, trans, static_cast<unsigned>(__builtin_ctz(blocksize)), absmaxOf};
  const FourBitOutput out{y, ny, beta};
  launchTiledMatmul(m, ny, ksum, 1u, a, w, out, stream);
}

}  // namespace kvant::linalg::detail
