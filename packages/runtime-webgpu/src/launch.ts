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
 */
import type { Params } from '@kvant/abi';

export interface Launch {
  /** Invocations per workgroup (the WGSL `override WG`); a power of two. */
  readonly workgroupSize: number;
  /** Elements per invocation (the WGSL `override PER`), for kernels that declare it. */
  readonly perInvocation?: number;
  /** Workgroups for these params (a flat count; the runtime folds it into a 2D grid). */
  readonly workgroups: (p: Params, wg: number, per: number) => number;
}

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
};
