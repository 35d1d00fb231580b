// cuda_emu.cpp — the fiber scheduler behind cuda_emu.h (compiled once into the cuda-emu addon).
//
// Each thread of a block is a fiber with its own stack. The scheduler (on the calling thread's
// stack) resumes live fibers round-robin; a fiber runs until it waits at a barrier or returns.
// A barrier keeps a count of arrivals and a generation number: the last live thread to arrive
// bumps the generation, which releases the waiters the next time the scheduler resumes them.
// A thread that returns no longer counts toward any barrier (as on the GPU), so a barrier whose
// other participants have all arrived is released by the exit of the last straggler.
// If a full round resumes no fiber that makes progress, the block is deadlocked (a __syncthreads
// not reached by every live thread) and the launch fails with that message instead of hanging.
#include "cuda_emu.h"

#include <stdio.h>
#include <stdlib.h>

#include <stdexcept>
#include <string>
#include <vector>

// The fast switch is x86-64 assembly; elsewhere (or with -DKVANT_EMU_UCONTEXT) ucontext.
#if defined(__x86_64__) && !defined(KVANT_EMU_UCONTEXT)
#define KVANT_EMU_ASM_SWITCH 1
#else
#include <ucontext.h>
#endif

thread_local uint3 threadIdx;
thread_local uint3 blockIdx;
thread_local dim3 blockDim;
thread_local dim3 gridDim;

namespace kvant_emu {
namespace {

constexpr size_t kStackBytes = 64 * 1024;  // kernels keep little on their stacks

#if defined(KVANT_EMU_ASM_SWITCH)
// Context switch: push the callee-saved registers and the SSE/x87 control words on the current
// stack, save rsp in *from, load rsp = to, pop the same set, return into the other context.
// A new fiber's stack is laid out so that this `ret` lands in fiberEntry (see startFiber).
extern "C" void kvant_emu_switch(void** from, void* to);
asm(R"(
  .text
  .globl kvant_emu_switch
  .type kvant_emu_switch,@function
kvant_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size kvant_emu_switch,.-kvant_emu_switch
)");
#endif

struct Barrier {
  unsigned arrived = 0;
  unsigned generation = 0;
};

struct Fiber {
  void* sp = nullptr;
  char* stack = nullptr;
#if !defined(KVANT_EMU_ASM_SWITCH)
  ucontext_t ctx;
#endif
  uint3 idx{0, 0, 0};
  unsigned linear = 0;
  bool started = false;
  bool done = false;
};

struct Warp {
  Barrier barrier;
  unsigned live = 0;
  uint64_t slots[32];
  unsigned present = 0;  // bit i: lane i exists and has not exited
};

struct Block {
  std::vector<Fiber> fibers;
  std::vector<Warp> warps;
  Barrier barrier;
  unsigned live = 0;
  unsigned long long progress = 0;  // bumped on every barrier release and thread exit
  void (*body)(void*) = nullptr;
  void* ctx = nullptr;
  Fiber* current = nullptr;
  void* schedulerSp = nullptr;
#if !defined(KVANT_EMU_ASM_SWITCH)
  ucontext_t schedulerCtx;
#endif
  bool trapped = false;
};

thread_local Block* tBlock = nullptr;
thread_local std::vector<char*> tStacks;  // reused across launches

void yieldToScheduler() {
  Block* b = tBlock;
#if defined(KVANT_EMU_ASM_SWITCH)
  kvant_emu_switch(&b->current->sp, b->schedulerSp);
#else
  swapcontext(&b->current->ctx, &b->schedulerCtx);
#endif
}

void releaseIfComplete(Barrier& bar, unsigned live, Block* b) {
  if (bar.arrived > 0 && bar.arrived >= live) {
    bar.arrived = 0;
    bar.generation++;
    b->progress++;
  }
}

void wait(Barrier& bar, const unsigned& live) {
  Block* b = tBlock;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  const unsigned gen = bar.generation;
  bar.arrived++;
  releaseIfComplete(bar, live, b);
  while (bar.generation == gen) yieldToScheduler();
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

void fiberMain() {
  Block* b = tBlock;
  b->body(b->ctx);
  Fiber* f = b->current;
  f->done = true;
  b->live--;
  Warp& w = b->warps[f->linear / 32];
  w.live--;
  w.present &= ~(1u << (f->linear % 32));
  b->progress++;
  releaseIfComplete(b->barrier, b->live, b);
  releaseIfComplete(w.barrier, w.live, b);
  yieldToScheduler();
  abort();  // a finished fiber is never resumed
}

#if defined(KVANT_EMU_ASM_SWITCH)
extern "C" void kvant_emu_fiber_entry() {
  fiberMain();
}
// Trampoline reached by the first `ret` into a new fiber: the stack is 16-byte aligned here, so a
// plain call keeps the System V alignment rule.
asm(R"(
  .text
  .globl kvant_emu_trampoline
  .type kvant_emu_trampoline,@function
kvant_emu_trampoline:
  call kvant_emu_fiber_entry
  ud2
  .size kvant_emu_trampoline,.-kvant_emu_trampoline
)");
extern "C" void kvant_emu_trampoline();
#endif

void startFiber(Block* b, Fiber& f) {
  f.started = true;
#if defined(KVANT_EMU_ASM_SWITCH)
  // Initial frame, from the top: [ret -> trampoline][rbp rbx r12 r13 r14 r15 = 0][mxcsr|fpucw].
  uintptr_t top = reinterpret_cast<uintptr_t>(f.stack + kStackBytes) & ~uintptr_t(15);
  uint64_t* sp = reinterpret_cast<uint64_t*>(top);
  // The `ret` pops the trampoline address and leaves rsp = top (16-aligned): the trampoline's
  // `call` then enters fiberMain with rsp = 8 (mod 16), as the System V ABI requires.
  *--sp = reinterpret_cast<uint64_t>(&kvant_emu_trampoline);
  for (int i = 0; i < 6; i++) *--sp = 0;
  *--sp = 0;
  uint32_t mxcsr;
  uint16_t fpucw;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpucw));
  memcpy(reinterpret_cast<char*>(sp), &mxcsr, 4);
  memcpy(reinterpret_cast<char*>(sp) + 4, &fpucw, 2);
  f.sp = sp;
  kvant_emu_switch(&b->schedulerSp, f.sp);
#else
  getcontext(&f.ctx);
  f.ctx.uc_stack.ss_sp = f.stack;
  f.ctx.uc_stack.ss_size = kStackBytes;
  f.ctx.uc_link = nullptr;
  makecontext(&f.ctx, fiberMain, 0);
  swapcontext(&b->schedulerCtx, &f.ctx);
#endif
}

void resumeFiber(Block* b, Fiber& f) {
#if defined(KVANT_EMU_ASM_SWITCH)
  kvant_emu_switch(&b->schedulerSp, f.sp);
#else
  swapcontext(&b->schedulerCtx, &f.ctx);
#endif
}

void enter(Block* b, Fiber& f) {
  b->current = &f;
  threadIdx = f.idx;
  if (!f.started) startFiber(b, f);
  else resumeFiber(b, f);
}

}  // namespace

void runGrid(dim3 grid, dim3 block, void (*body)(void*), void* ctx) {
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  if (threads == 0 || threads > 1024) throw std::runtime_error("launch: block of " + std::to_string(threads) + " threads (expected 1 to 1024)");
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535) {
    throw std::runtime_error("launch: invalid grid " + std::to_string(grid.x) + "x" + std::to_string(grid.y) + "x" + std::to_string(grid.z));
  }
  while (tStacks.size() < threads) {
    char* s = static_cast<char*>(malloc(kStackBytes));
    if (!s) throw std::bad_alloc();
    tStacks.push_back(s);
  }
  Block b;
  b.fibers.resize(threads);
  b.warps.resize((threads + 31) / 32);
  b.body = body;
  b.ctx = ctx;
  Block* saved = tBlock;
  tBlock = &b;
  gridDim = grid;
  blockDim = block;
  for (unsigned z = 0; z < grid.z; z++)
    for (unsigned y = 0; y < grid.y; y++)
      for (unsigned x = 0; x < grid.x; x++) {
        blockIdx = uint3{x, y, z};
        b.live = static_cast<unsigned>(threads);
        b.barrier = Barrier{};
        for (size_t w = 0; w < b.warps.size(); w++) {
          b.warps[w].barrier = Barrier{};
          b.warps[w].live = static_cast<unsigned>(threads - w * 32 < 32 ? threads - w * 32 : 32);
          b.warps[w].present = b.warps[w].live == 32 ? 0xffffffffu : (1u << b.warps[w].live) - 1;
        }
        for (unsigned i = 0; i < threads; i++) {
          Fiber& f = b.fibers[i];
          f.linear = i;
          f.idx = uint3{i % block.x, (i / block.x) % block.y, i / (block.x * block.y)};
          f.stack = tStacks[i];
          f.started = false;
          f.done = false;
        }
        while (b.live > 0) {
          const unsigned long long before = b.progress;
          bool ranNew = false;
          for (unsigned i = 0; i < threads; i++) {
            Fiber& f = b.fibers[i];
            if (f.done) continue;
            ranNew |= !f.started;
            enter(&b, f);
          }
          if (b.live > 0 && b.progress == before && !ranNew) {
            tBlock = saved;
            throw std::runtime_error("deadlock in block (" + std::to_string(x) + "," + std::to_string(y) + "," + std::to_string(z) +
                                     "): a barrier (__syncthreads, shuffle or vote) was not reached by every live thread");
          }
        }
        if (b.trapped) {
          tBlock = saved;
          throw std::runtime_error("__trap() in block (" + std::to_string(x) + "," + std::to_string(y) + "," + std::to_string(z) + ")");
        }
      }
  tBlock = saved;
}

void syncBlock() {
  Block* b = tBlock;
  wait(b->barrier, b->live);
}

void syncWarp() {
  Block* b = tBlock;
  Warp& w = b->warps[b->current->linear / 32];
  wait(w.barrier, w.live);
}

unsigned laneId() { return tBlock->current->linear % 32; }

uint64_t* warpSlots() {
  Block* b = tBlock;
  return b->warps[b->current->linear / 32].slots;
}

unsigned presentLanes() {
  Block* b = tBlock;
  return b->warps[b->current->linear / 32].present;
}

void trap() {
  tBlock->trapped = true;
  // The thread stops here: park it forever is not possible, so let it continue; the launch fails.
}

}  // namespace kvant_emu

namespace kvant_emu {
namespace {
// One vote: each live lane publishes its predicate between two warp barriers. Between the
// barriers no lane of the warp can exit, so the set of present lanes read there is the set that
// voted; lanes that exited (or do not exist in a partial last warp) contribute 0, as on the GPU.
unsigned vote(int predicate, unsigned* present) {
  uint64_t* slots = warpSlots();
  slots[laneId()] = predicate ? 1 : 0;
  syncWarp();
  *present = presentLanes();
  unsigned bits = 0;
  for (unsigned i = 0; i < 32; i++) bits |= (((*present >> i) & 1u) && slots[i]) ? 1u << i : 0u;
  syncWarp();
  return bits;
}
}  // namespace
}  // namespace kvant_emu

unsigned __ballot_sync(unsigned, int predicate) {
  unsigned present;
  return kvant_emu::vote(predicate, &present);
}

int __all_sync(unsigned, int predicate) {
  unsigned present;
  const unsigned bits = kvant_emu::vote(predicate, &present);
  return bits == present ? 1 : 0;
}

unsigned __activemask() {
  unsigned present;
  return kvant_emu::vote(1, &present);
}
