/**
 * How many workgroups each kernel needs: the one piece of per-kernel knowledge the runtime keeps
 * next to the WGSL. `workgroupSize` is passed to the shader as the `WG` override and
 * `perInvocation` (when set) as the `PER` override, so the shader and this table cannot disagree.
 *
 * Why 64 and 8: on lavapipe (llvmpipe), WG = 64 with 8 elements per invocation copies about 3x
 * faster than WG = 256 with one element per invocation, and the block kernels (one segment of
 * min(blocksize, WG) invocations per block) waste fewer idle invocations at WG = 64; 64 is also a
 * good size on GPUs (a multiple of every subgroup width).
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

export const LAUNCH: Readonly<Record<string, Launch>> = {
  'mem.copy': perElement((p) => p.words),
  'quant.linear_quantize': { workgroupSize: 64, workgroups: (p) => ceilDiv(p.n, p.group) },
  'quant.linear_dequantize': perElement((p) => p.n),
  'quant.nf4_quantize': perBlock,
  'quant.fp4_quantize': perBlock,
  'quant.dequantize_4bit': perElement((p) => p.n),
  'quant.dequantize_4bit_dq': perElement((p) => p.n),
  'quant.blockwise8_quantize': perBlock,
  'quant.blockwise8_dequantize': perElement((p) => p.n),
};
