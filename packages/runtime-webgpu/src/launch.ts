/**
 * How many workgroups each kernel needs: the one piece of per-kernel knowledge the runtime keeps
 * next to the WGSL. `workgroupSize` is passed to the shader as the `WG` override and
 * `perInvocation` (when set) as the `PER` override, so the shader and this table cannot disagree.
 *
 * Why 64 and 8: on lavapipe (llvmpipe), WG = 64 with 8 elements per invocation copies about 3x
 * faster than WG = 256 with one element per invocation, and the block kernels (one segment of
 * min(blocksize, WG) invocations per block) waste fewer idle invocations at WG = 64; 64 is also a
 * good size on GPUs (a multiple of every subgroup width).
 *
 * Why the 4-bit quantizers take 64 elements per invocation: their absmax needs the whole block,
 * and on lavapipe every workgroupBarrier of a shared-memory reduction costs a coroutine switch
 * per invocation; one invocation per block of <= 64 elements needs no barrier at all and ran
 * ~13x faster than a 64-invocation segment per block (nf4 bs64, n = 2^20: 5.8 ms, was 74 ms).
 *
 * Multi-pass kernels (`passes`): a kernel whose work needs a global barrier — each level of the
 * reduction tree of linalg.sum reads the whole level before it — runs as several passes of one
 * `dispatch`. The runtime records them as consecutive dispatches of one compute pass (WebGPU makes
 * each dispatch's storage writes visible to the next), with the same params and bindings, and
 * binds `pass_info` (kernels-wgsl/lib/passes.wgsl: the pass index and the pass count) at group 1
 * with a dynamic offset per pass. The kernel derives everything else from its params and the
 * index, so no host arithmetic per pass is needed and every runtime sees the same params bytes.
 */
import type { Params } from '@kvant/abi';

export interface Launch {
  /** Invocations per workgroup (the WGSL `override WG`); a power of two. */
  readonly workgroupSize: number;
  /** Elements per invocation (the WGSL `override PER`), for kernels that declare it. */
  readonly perInvocation?: number;
  /**
   * Workgroups for these params (a flat count; the runtime folds it into a 2D grid); `pass` is the
   * pass index of a multi-pass kernel (always 0 otherwise). A pass of 0 workgroups is skipped.
   */
  readonly workgroups: (p: Params, wg: number, per: number, pass: number) => number;
  /**
   * Passes of one dispatch, for a kernel that includes lib/passes.wgsl (at most MAX_PASSES).
   * Absent: one pass, and the pipeline has no group 1.
   */
  readonly passes?: (p: Params) => number;
}

/** Most passes one dispatch of a multi-pass kernel may run (the size of its pass uniform). */
export const MAX_PASSES = 8;

const ceilDiv = (a: number, b: number) => Math.ceil(a / b);
/** PER elements (or words) of `count` per invocation, strided by WG within a workgroup. */
const perElement = (count: (p: Params) => number): Launch => ({
  workgroupSize: 64,
  perInvocation: 8,
  workgroups: (p, wg, per) => ceilDiv(count(p), wg * per),
});
/** One segment of min(blocksize, WG) invocations per block. */
const perBlock: Launch = {
  workgroupSize: 64,
  workgroups: (p, wg) => ceilDiv(ceilDiv(p.n, p.blocksize), Math.max(1, wg / Math.min(p.blocksize, wg))),
};

/**
 * One invocation per chunk of max(PER, blocksize / WG) elements of a block: seg = blocksize / chunk
 * invocations per block (1 when blocksize <= PER), WG / seg blocks per workgroup
 * (kernels-wgsl/lib/quantize_4bit.wgsl computes the same split).
 */
const perChunk: Launch = {
  workgroupSize: 64,
  perInvocation: 64,
  workgroups: (p, wg, per) => ceilDiv(ceilDiv(p.n, p.blocksize), wg / Math.min(wg, p.blocksize / Math.min(per, p.blocksize))),
};

/** Fan-in of linalg.sum's tree (REDUCE_FAN_IN of @kvant/abi). */
const FAN_IN = 256;
/** Length of level `level` of the reduction tree of n elements (level 0 has ceil(n / 256)). */
function levelLength(n: number, level: number): number {
  let len = n;
  for (let l = 0; l <= level; l++) len = ceilDiv(len, FAN_IN);
  return len;
}
/** The 256-ary tree (kernels-wgsl/lib/tree_reduce.wgsl): one pass per level, one invocation per chunk. */
const treeReduce: Launch = {
  workgroupSize: 64,
  workgroups: (p, wg, _per, pass) => ceilDiv(levelLength(p.n, pass), wg),
  passes: (p) => {
    let levels = 0;
    let len = p.n;
    do {
      len = ceilDiv(len, FAN_IN);
      levels++;
    } while (len > 1);
    return levels;
  },
};

/** linalg.matmul_4bit(_dq) and linalg.matmul_16bit: the matmul's 64x64 tiles over y [m, n] (trans 0) or [m, k] (trans 1). */
const matmul4bitTiles: Launch = { workgroupSize: 256, workgroups: (p) => ceilDiv(p.m, 64) * ceilDiv(p.trans === 0 ? p.n : p.k, 64) };

/** Rows (queries or keys) per attention workgroup for head dim d (kernels-wgsl/lib/attention_tiles.wgsl). */
export function attentionRows(d: number): number {
  return Math.min(16, Math.max(4, 4 * Math.floor(64 / Math.ceil(d / 4))));
}

export const LAUNCH: Readonly<Record<string, Launch>> = {
  'mem.copy': perElement((p) => p.words),
  'quant.linear_quantize': { workgroupSize: 64, workgroups: (p) => ceilDiv(p.n, p.group) },
  'quant.linear_dequantize': perElement((p) => p.n),
  'quant.nf4_quantize': perChunk,
  'quant.fp4_quantize': perChunk,
  'quant.dequantize_4bit': perElement((p) => p.n),
  'quant.dequantize_4bit_dq': perElement((p) => p.n),
  'quant.blockwise8_quantize': perBlock,
  'quant.blockwise8_dequantize': perElement((p) => p.n),
  'quant.dequantize_16bit': perElement((p) => p.n),
  // One workgroup per 64x64 tile of the result (kernels-wgsl/lib/matmul_tiles.wgsl).
  'linalg.matmul': { workgroupSize: 256, workgroups: (p) => p.batch * ceilDiv(p.m, 64) * ceilDiv(p.n, 64) },
  'linalg.matmul_4bit': matmul4bitTiles,
  'linalg.matmul_4bit_dq': matmul4bitTiles,
  'linalg.matmul_16bit': matmul4bitTiles,
  'linalg.sum_squares': treeReduce,
  'linalg.sum': treeReduce,
  'linalg.add': perElement((p) => p.n),
  'linalg.scale': perElement((p) => p.n),
  'linalg.axpy': perElement((p) => p.n),
  // PER = 2 Philox blocks of four elements per invocation: the draw, not memory, is the cost.
  'linalg.dropout': { workgroupSize: 64, perInvocation: 2, workgroups: (p, wg, per) => ceilDiv(ceilDiv(p.n, 4), wg * per) },
  'linalg.peak_flops': { workgroupSize: 64, workgroups: (p, wg) => ceilDiv(p.threads, wg) },
  'optim.adamw_step': perElement((p) => p.n),
  // One invocation per block of 256 (kernels-wgsl/optim/adamw8bit_step.wgsl): no barrier in the block max.
  'optim.adamw8bit_step': { workgroupSize: 64, workgroups: (p, wg) => ceilDiv(ceilDiv(p.n, 256), wg) },
  'nn.embedding': perElement((p) => p.n * p.c),
  'nn.kv_append': perElement((p) => p.b * p.t_new * p.w),
  'nn.rope': perElement((p) => (p.n * p.h * p.d) / 2),
  'nn.rope_backward': perElement((p) => (p.n * p.h * p.d) / 2),
  'nn.swiglu': perElement((p) => p.n * p.inter),
  'nn.swiglu_backward': perElement((p) => p.n * p.inter),
  'nn.cross_entropy_backward': perElement((p) => p.n * p.v),
  // One workgroup per row, a tree over WG (kernels-wgsl/nn/argmax.wgsl).
  'nn.argmax': { workgroupSize: 64, workgroups: (p) => p.n },
  // One workgroup of 32 (the rowsum32 lanes) per row; rmsnorm_backward adds ceil(c / 32) column workgroups for dw.
  'nn.rmsnorm': { workgroupSize: 32, workgroups: (p) => p.n },
  'nn.rmsnorm_backward': { workgroupSize: 32, workgroups: (p, wg) => p.n + ceilDiv(p.c, wg) },
  'nn.cross_entropy': { workgroupSize: 32, workgroups: (p) => p.n },
  // One workgroup per table row, walking the tokens in order (kernels-wgsl/nn/embedding_backward.wgsl).
  'nn.embedding_backward': { workgroupSize: 64, workgroups: (p) => p.v },
  // One workgroup per (b, query head, tile of attentionRows(d) queries).
  'nn.attention': { workgroupSize: 64, workgroups: (p) => p.b * p.h * ceilDiv(p.t, attentionRows(p.d)) },
  // Pass 0: delta, one invocation per query row; pass 1: dq workgroups per (b, head, query tile),
  // then dk/dv workgroups per (b, kv head, key tile) (kernels-wgsl/nn/attention_backward.wgsl).
  // One workgroup per query row: a decode step has one query per head (kernels-wgsl/nn/attention_decode.wgsl).
  'nn.attention_decode': { workgroupSize: 64, workgroups: (p) => p.b * p.h * p.t_q },
  'nn.attention_backward': {
    workgroupSize: 64,
    passes: () => 2,
    workgroups: (p, wg, _per, pass) => (pass === 0 ? ceilDiv(p.b * p.h * p.t, wg) : (p.b * p.h + p.b * p.h_kv) * ceilDiv(p.t, attentionRows(p.d))),
  },
  // One invocation per row (a merge sort of the row's indices in work).
  'nn.sample': { workgroupSize: 64, workgroups: (p, wg) => ceilDiv(p.n, wg) },
};
