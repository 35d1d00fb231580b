/**
 * How many workgroups each kernel needs: the one piece of per-kernel knowledge the runtime keeps
 * next to the WGSL. `workgroupSize` is passed to the shader as the `WG` override, so the shader
 * and this table cannot disagree about it.
 */
import type { Params } from '@kvant/abi';

export interface Launch {
  /** Invocations per workgroup (the WGSL `override WG`); a power of two. */
  readonly workgroupSize: number;
  /** Workgroups for these params (a flat count; the runtime folds it into a 2D grid). */
  readonly workgroups: (p: Params, wg: number) => number;
}

const ceilDiv = (a: number, b: number) => Math.ceil(a / b);
/** One invocation per element (or word) of `count`. */
const perElement = (count: (p: Params) => number): Launch => ({ workgroupSize: 256, workgroups: (p, wg) => ceilDiv(count(p), wg) });
/** One segment of min(blocksize, WG) invocations per block. */
const perBlock: Launch = {
  workgroupSize: 256,
  workgroups: (p, wg) => ceilDiv(ceilDiv(p.n, p.blocksize), Math.max(1, wg / Math.min(p.blocksize, wg))),
};

export const LAUNCH: Readonly<Record<string, Launch>> = {
  'mem.copy': perElement((p) => p.words),
  'quant.linear_quantize': { workgroupSize: 256, workgroups: (p) => ceilDiv(p.n, p.group) },
  'quant.linear_dequantize': perElement((p) => p.n),
  'quant.nf4_quantize': perBlock,
  'quant.fp4_quantize': perBlock,
  'quant.dequantize_4bit': perElement((p) => p.n),
  'quant.dequantize_4bit_dq': perElement((p) => p.n),
  'quant.blockwise8_quantize': perBlock,
  'quant.blockwise8_dequantize': perElement((p) => p.n),
};
