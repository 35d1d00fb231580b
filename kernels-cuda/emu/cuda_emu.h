// cuda_emu.h — kvant's CUDA emulation: the subset of CUDA C++ that kvant's kernels use, so that
// g++ compiles the same .cu sources for the CPU (`g++ -x c++ -include emu/cuda_emu.h`).
//
// Model:
// - A launch runs its blocks one after another on the calling thread (launches are synchronous;
//   streams are opaque tokens).
// - The threads of a block run as cooperative fibers (own stacks, switched in user space). A fiber
//   runs until it reaches a barrier — __syncthreads(), or the warp-level barrier inside every
//   shuffle and vote — then the next fiber runs. A barrier releases when every live (not exited)
//   thread of its scope has arrived, as on current GPUs.
// - Warps are 32 consecutive linear thread ids. Shuffles and votes exchange values through a
//   per-warp slot array between two warp barriers; the `mask` argument is not checked (all live
//   lanes of the warp take part).
// - __shared__ variables are function-local statics: one copy, reused by each block in turn
//   (thread_local, so blocks could later run on several OS threads).
// - Atomics are real atomics (__atomic builtins); float math is IEEE f32 with the *_rn intrinsics
//   as plain operations (compile with -ffp-contract=off so nothing fuses into an fma).
// Not modeled: memory races and out-of-bounds accesses (no detection), dynamic shared memory,
// tensor cores (mma), TMA, cooperative groups, clocks, warp-synchronous code that relies on lanes
// running in lock step without a barrier.
#pragma once
#define KVANT_CUDA_EMU 1

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmath>
#include <type_traits>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __restrict__ __restrict
#define __shared__ static thread_local
#define __constant__ static
#define __launch_bounds__(...)

struct uint3 {
  unsigned int x, y, z;
};
struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};

struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) uint2 { unsigned int x, y; };
struct alignas(16) uint4 { unsigned int x, y, z, w; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }

extern thread_local uint3 threadIdx;
extern thread_local uint3 blockIdx;
extern thread_local dim3 blockDim;
extern thread_local dim3 gridDim;
constexpr int warpSize = 32;

namespace kvant_emu {

struct Stream;  // opaque: launches are synchronous

// Run `body(ctx)` once per thread of every block of the grid (the fiber scheduler).
void runGrid(dim3 grid, dim3 block, void (*body)(void*), void* ctx);
// Block barrier (__syncthreads) and warp barrier (inside shuffles and votes).
void syncBlock();
void syncWarp();
// The calling fiber's lane (0..31) and its warp's exchange slots (32 x 8 bytes).
unsigned laneId();
uint64_t* warpSlots();
// Bit i set: lane i of the caller's warp exists and has not exited.
unsigned presentLanes();
// Errors raised by kernels (e.g. __trap) — checked after the launch.
void trap();

template <class... KArgs, class... Args>
void launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t /*shmem*/, Stream* /*stream*/, Args&&... args) {
  auto body = [&]() { kernel(args...); };
  using Body = decltype(body);
  runGrid(grid, block, [](void* c) { (*static_cast<Body*>(c))(); }, &body);
}

// Exchange: every live lane publishes `v`, then reads lane `src`'s value (its own when src is out of range).
template <class T>
T exchange(T v, int src, bool valid) {
  static_assert(sizeof(T) <= 8, "shuffle of a type wider than 8 bytes");
  uint64_t* slots = warpSlots();
  const unsigned lane = laneId();
  uint64_t bits = 0;
  memcpy(&bits, &v, sizeof(T));
  slots[lane] = bits;
  syncWarp();
  T r = v;
  if (valid) memcpy(&r, &slots[src], sizeof(T));
  syncWarp();
  return r;
}

}  // namespace kvant_emu

// ---- barriers, shuffles, votes ----
inline void __syncthreads() { kvant_emu::syncBlock(); }
inline void __syncwarp(unsigned = 0xffffffffu) { kvant_emu::syncWarp(); }
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __trap() { kvant_emu::trap(); }

template <class T>
T __shfl_sync(unsigned, T v, int srcLane, int width = 32) {
  const int lane = static_cast<int>(kvant_emu::laneId());
  const int base = lane & ~(width - 1);
  return kvant_emu::exchange(v, base + (srcLane & (width - 1)), true);
}
template <class T>
T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
  const int lane = static_cast<int>(kvant_emu::laneId());
  const int src = lane + static_cast<int>(delta);
  return kvant_emu::exchange(v, src, (src & ~(width - 1)) == (lane & ~(width - 1)) && src < 32);
}
template <class T>
T __shfl_up_sync(unsigned, T v, unsigned delta, int width = 32) {
  const int lane = static_cast<int>(kvant_emu::laneId());
  const int src = lane - static_cast<int>(delta);
  return kvant_emu::exchange(v, src, src >= 0 && (src & ~(width - 1)) == (lane & ~(width - 1)));
}
template <class T>
T __shfl_xor_sync(unsigned, T v, int laneMask, int width = 32) {
  const int lane = static_cast<int>(kvant_emu::laneId());
  const int src = lane ^ laneMask;
  return kvant_emu::exchange(v, src, (src & ~(width - 1)) == (lane & ~(width - 1)) && src < 32);
}
unsigned __ballot_sync(unsigned mask, int predicate);
inline int __any_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) != 0; }
int __all_sync(unsigned mask, int predicate);
unsigned __activemask();

// ---- atomics (real atomics: correct even if blocks run on several OS threads) ----
template <class T>
inline T atomicAdd(T* p, T v) {
  if constexpr (std::is_floating_point<T>::value) {
    T old, next;
    __atomic_load(p, &old, __ATOMIC_SEQ_CST);
    do {
      next = old + v;
    } while (!__atomic_compare_exchange(p, &old, &next, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
    return old;
  } else {
    return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
  }
}
template <class T>
inline T atomicMax(T* p, T v) {
  static_assert(std::is_integral<T>::value, "atomicMax on integers only (use kvant::atomicMaxFloat)");
  T old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
  while (old < v && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
  }
  return old;
}
template <class T>
inline T atomicMin(T* p, T v) {
  static_assert(std::is_integral<T>::value, "atomicMin on integers only");
  T old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
  while (old > v && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
  }
  return old;
}
template <class T>
inline T atomicCAS(T* p, T compare, T value) {
  __atomic_compare_exchange_n(p, &compare, value, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return compare;  // the old value, whether or not the swap happened
}
template <class T>
inline T atomicExch(T* p, T v) {
  return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
}

// ---- f32 intrinsics: IEEE round-to-nearest operations, never fused ----
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __frcp_rn(float a) { return 1.0f / a; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __uint_as_float(unsigned int u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
inline unsigned int __float_as_uint(float f) {
  unsigned int u;
  memcpy(&u, &f, 4);
  return u;
}
inline int __float_as_int(float f) { return static_cast<int>(__float_as_uint(f)); }
inline float __int_as_float(int i) { return __uint_as_float(static_cast<unsigned>(i)); }
template <class T>
inline T __ldg(const T* p) {
  return *p;
}
inline int __popc(unsigned int x) { return __builtin_popcount(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline unsigned int __brev(unsigned int x) {
  unsigned r = 0;
  for (int i = 0; i < 32; i++) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}
// ---- integer and IEEE-exact arithmetic intrinsics (all correctly rounded on the GPU too) ----
// High 32 bits of the 64-bit product of two u32 (Philox).
inline unsigned int __umulhi(unsigned int a, unsigned int b) {
  return static_cast<unsigned int>((static_cast<unsigned long long>(a) * b) >> 32);
}
inline float __fsqrt_rn(float a) { return sqrtf(a); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline double __dsqrt_rn(double a) { return sqrt(a); }
inline float __double2float_rn(double a) { return static_cast<float>(a); }
