// rowsum32.cuh — the fixed row reduction of the nn family (`rowsum32` in packages/abi/src/kernels/nn.ts,
// the same helper name in every runtime): the sum of term(j) over j in [a, b) as 32 lanes and a tree.
//   lane l: s_l = +0.0, then s_l = f(s_l + term(j)) for j = a + l, a + l + 32, ... < b, in increasing j;
//   then for off = 16, 8, 4, 2, 1: s_l = f(s_l + s_(l+off)) for l < off; the sum is s_0.
//
// One idea: that order is a warp. Lane l of the calling warp is the spec's lane l (consecutive lanes
// read consecutive elements: coalesced), and the tree is the xor butterfly: at each step lane l < off
// adds s_(l^off) = s_(l+off) to its own partial, exactly the spec's operation with the spec's operand
// order (so even a NaN's payload is the reference's: lib/nan_bits.cuh); lanes >= off compute the same
// sums with the operands swapped, which only matters for NaN payloads — so the result is taken from
// lane 0 and broadcast. Every lane of a full warp must call it (1-D blocks, blockDim.x % 32 == 0).
#pragma once
#include "../kvant_cuda.h"
#include "nan_bits.cuh"

namespace kvant {

template <class Term>
__device__ __forceinline__ float rowsum32(uint32_t a, uint32_t b, const Term& term) {
  const uint32_t lane = threadIdx.x & 31u;
  float s = 0.0f;
  for (uint32_t j = a + lane; j < b; j += 32) s = nan_bits::add(s, term(j));
  for (int off = 16; off >= 1; off >>= 1) s = nan_bits::add(s, __shfl_xor_sync(0xffffffffu, s, off));
  return __shfl_sync(0xffffffffu, s, 0);
}

}  // namespace kvant
