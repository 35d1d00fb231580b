/**
 * Merging, written once against BaseWeight:
 *
 *   merge:    W ← W + s·B·A                      (DoRA: W ← (m / ‖W + s·B·A‖) ⊙_rows (W + s·B·A))
 *   unmerge:  W ← W − s·B·A                      (DoRA: W ← W / factor − s·B·A, factor cached at merge)
 *
 * Each step is: W' = dequantize(W) (a copy), change W' with kernels, `base.assign(W')`. A dense base
 * stores W' exactly, so unmerge gives W back up to the rounding of one add and one subtract. A bf16/f16
 * base rounds W' to its format (nearest even), and merging says by how much. A 4-bit
 * base quantizes W' again: the stored weight is not W + ΔW, and merging says by how much (PEFT warns
 * "Merge lora module to 4-bit linear may get different generations due to rounding errors").
 * `mergedDenseCopy` is the export path: dequantize, merge into a dense f32 copy, leave the base alone.
 */
import { downloadF32, type Runtime, type Tensor, upload } from '@kvant/abi';
import type { LoraAdapter } from './adapter';
import { type AssignReport, type BaseWeight, denseCopy } from './base';
import { DenseBase } from './dense-base';
import { addDelta, rowNorms } from './dora';
import type { LoraLinear, MergedAdapter } from './layer';
import { rowScale } from './ops';

/** What one merge or unmerge did to one module. */
export interface MergeReport extends AssignReport {
  readonly module: string;
  readonly adapter: string;
  readonly direction: 'merge' | 'unmerge';
  /** The base, as BaseWeight.describe() says. */
  readonly base: string;
}

export interface MergeOptions {
  /** Where the 4-bit rounding warning goes (default console.warn). */
  readonly onWarning?: (message: string) => void;
}

/** W ← diag(v)·W for a host vector v [N]; returns the new tensor and frees the old one. */
function scaleRows(rt: Runtime, w: Tensor, v: Float32Array, n: number, k: number): Tensor {
  const vT = upload(rt, 'f32', [n], v);
  const out = rt.alloc('f32', [n, k]);
  rowScale(rt, vT, w, out, n, k);
  rt.free(vT);
  rt.free(w);
  return out;
}

/** Merge or unmerge one adapter into `base`; returns the assign report and, for a DoRA merge, the factor. */
export async function applyAdapterToBase(
  base: BaseWeight,
  a: LoraAdapter,
  direction: 'merge' | 'unmerge',
  doraFactor?: Float32Array,
): Promise<{ report: AssignReport; doraFactor?: Float32Array }> {
  const rt = base.runtime;
  const [n, k] = [base.outFeatures, base.inFeatures];
  let w = denseCopy(base);
  let factor: Float32Array | undefined;
  if (!a.useDora) {
    addDelta(rt, a, w, direction === 'merge' ? 1 : -1);
  } else if (direction === 'merge') {
    addDelta(rt, a, w, 1);
    const norms = await rowNorms(rt, w, n, k);
    const mag = await downloadF32(a.magnitude!);
    factor = Float32Array.from(mag, (v, j) => v / norms[j]);
    w = scaleRows(rt, w, factor, n, k);
  } else {
    if (!doraFactor) throw new Error(`internal: unmerging DoRA adapter ${a.name} without its merge factor`);
    w = scaleRows(rt, w, Float32Array.from(doraFactor, (f) => 1 / f), n, k);
    addDelta(rt, a, w, -1);
  }
  const report = await base.assign(w);
  rt.free(w);
  return { report, doraFactor: factor };
}

function warnIfRounded(r: MergeReport, options: MergeOptions): void {
  if (r.maxAbsError === 0) return;
  const say = options.onWarning ?? ((s: string) => console.warn(s));
  const half = /^(bf16|f16) /.exec(r.base)?.[1];
  say(
    `${r.direction === 'merge' ? 'merging' : 'unmerging'} adapter ${JSON.stringify(r.adapter)} ${r.direction === 'merge' ? 'into' : 'from'} the ${half ?? '4-bit'} base of ${r.module} (${r.base}) ` +
      `${half ? `rounded the weight to ${half}` : 're-quantized the weight'}: it differs from W${r.direction === 'merge' ? ' + ' : ' − '}s·B·A by up to ${r.maxAbsError.toExponential(3)} ` +
      `(${(100 * r.relMaxError).toFixed(3)}% of max |W|; ‖error‖/‖W‖ = ${r.relNormError.toExponential(3)}), so outputs may differ; ` +
      'mergedDenseCopy() merges into a dense copy without this rounding',
  );
}

/** Merge the active (not yet merged) adapters of a layer into its base. */
export async function mergeLayer(layer: LoraLinear, names: readonly string[] = layer.active, options: MergeOptions = {}): Promise<MergeReport[]> {
  const reports: MergeReport[] = [];
  for (const name of names) {
    if (layer.merged.some((m) => m.name === name)) continue;
    const a = layer.adapter(name);
    const { report, doraFactor } = await applyAdapterToBase(layer.base, a, 'merge');
    const entry: MergedAdapter = doraFactor ? { name, doraFactor } : { name };
    layer.merged.push(entry);
    const r: MergeReport = { ...report, module: layer.name, adapter: name, direction: 'merge', base: layer.base.describe() };
    warnIfRounded(r, options);
    reports.push(r);
  }
  return reports;
}

/** Take every merged adapter out of the base again, last merged first. */
export async function unmergeLayer(layer: LoraLinear, options: MergeOptions = {}): Promise<MergeReport[]> {
  const reports: MergeReport[] = [];
  while (layer.merged.length > 0) {
    const entry = layer.merged[layer.merged.length - 1];
    const { report } = await applyAdapterToBase(layer.base, layer.adapter(entry.name), 'unmerge', entry.doraFactor);
    layer.merged.pop();
    const r: MergeReport = { ...report, module: layer.name, adapter: entry.name, direction: 'unmerge', base: layer.base.describe() };
    warnIfRounded(r, options);
    reports.push(r);
  }
  return reports;
}

/**
 * The export path: a dense f32 copy of the base (a 4-bit one dequantized) with the active adapters
 * merged into it; the layer is left as it was. The caller owns (and frees) the copy.
 */
export async function mergedDenseCopy(layer: LoraLinear, names: readonly string[] = layer.active): Promise<DenseBase> {
  const copy = DenseBase.copyOf(layer.base);
  for (const name of names) {
    if (layer.merged.some((m) => m.name === name)) continue; // already in the base, so already in the copy
    await applyAdapterToBase(copy, layer.adapter(name), 'merge');
  }
  return copy;
}
