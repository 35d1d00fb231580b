/**
 * Merging a decoder's active LoRA adapter into its weights for deployment, through @kvant/lora's
 * merge (written once against BaseWeight):
 *
 * - dense (the default): every adapted module becomes `mergedDenseCopy(layer)` = W + s·B·A (a 4-bit W
 *   dequantized first: deq(W4) + s·B·A, the weight the adapter was trained against), every other 4-bit
 *   module its dequantized copy; the decoder itself is left as it was. Exact within f32 rounding.
 * - requantize: the adapter is merged into the 4-bit bases in place (`LoraModel.merge`), which
 *   quantizes W + s·B·A again and reports, per module, how far the stored weight is from it.
 *
 * `mergeModelFolder` writes the result with saveModelFolder; `mergedDenseWeights` is also what the
 * GGUF export reads.
 */
import { ConfigError, type Tensor } from '@kvant/abi';
import { type AssignReport, DenseBase, FourBitBase, type MergeReport, mergedDenseCopy } from '@kvant/lora';
import type { Decoder } from './decoder';
import { linearModules } from './decoder-weights';
import { type SavedModel, type SaveDtype, saveModelFolder } from './save-model';

/** Dense f32 weights standing in for the decoder's own: merged, or dequantized. The caller frees them. */
export interface MergedWeights {
  /** By module name: each adapted module (merged) and each other non-dense module (dequantized). */
  readonly linears: ReadonlyMap<string, DenseBase>;
  /** The active adapter's modules_to_save copies, by HF tensor name (they replace the base's tensors). */
  readonly parameters: ReadonlyMap<string, Tensor>;
  /** Modules the adapter was merged into. */
  readonly merged: readonly string[];
  /** Modules whose 4-bit base was dequantized (merged or not). */
  readonly dequantized: readonly string[];
  /** Release the dense copies (not the modules_to_save tensors, which the adapter owns). */
  free(): void;
}

/** The adapters of a layer that a forward would run (the active ones, unless adapters are disabled). */
function activeAdapters(decoder: Decoder, module: string): string[] {
  const layer = decoder.lora?.layers.get(module);
  if (!layer || layer.disabled || decoder.lora?.disabled) return [];
  return layer.active;
}

/** Dense copies of every adapted or non-dense module, with the active adapter merged in (the decoder is not changed). */
export async function mergedDenseWeights(decoder: Decoder): Promise<MergedWeights> {
  const linears = new Map<string, DenseBase>();
  const merged: string[] = [];
  const dequantized: string[] = [];
  try {
    for (const m of linearModules(decoder.weights)) {
      const layer = decoder.lora?.layers.get(m.name);
      const names = activeAdapters(decoder, m.name);
      if (layer && names.length > 0) {
        linears.set(m.name, await mergedDenseCopy(layer, names));
        merged.push(m.name);
      } else if (m.base.storage !== 'f32') linears.set(m.name, DenseBase.copyOf(m.base));
      if (m.base instanceof FourBitBase) dequantized.push(m.name);
    }
  } catch (e) {
    for (const b of linears.values()) b.free();
    throw e;
  }
  const lora = decoder.lora;
  const parameters = lora && !lora.disabled && lora.configs.size > 0 ? (lora.modulesToSave.get(lora.activeAdapter) ?? new Map<string, Tensor>()) : new Map<string, Tensor>();
  return {
    linears,
    parameters,
    merged,
    dequantized,
    free: () => {
      for (const b of linears.values()) b.free();
    },
  };
}

export interface MergeModelOptions {
  /** Storage dtype of the dense tensors written (default f32). */
  readonly dtype?: SaveDtype;
  readonly force?: boolean;
  readonly shardBytes?: number;
  /** Merge into the 4-bit bases and write a bitsandbytes 4-bit folder again (needs a 4-bit base). */
  readonly requantize?: boolean;
  /** The adapter folder (an input the output must not overlap). */
  readonly adapterDir?: string;
}

/** What a merge wrote and what it cost. */
export interface MergeModelReport {
  readonly saved: SavedModel;
  readonly mode: 'dense' | 'requantized';
  readonly merged: readonly string[];
  readonly dequantized: readonly string[];
  /** requantize: per module, how far the stored 4-bit weight is from W + s·B·A. */
  readonly requantized: readonly MergeReport[];
  /** Worst of `requantized` (zeros for a dense merge). */
  readonly worst: AssignReport;
}

/**
 * Merge the decoder's active adapter and write a Hugging Face folder to `out`. Dense by default; with
 * `requantize`, the 4-bit bases are merged in place and the adapter is unloaded (PEFT's merge_and_unload):
 * the decoder keeps the merged weights and has no adapter afterwards.
 */
export async function mergeModelFolder(decoder: Decoder, out: string, options: MergeModelOptions = {}): Promise<MergeModelReport> {
  const lora = decoder.lora;
  if (!lora || lora.configs.size === 0) throw new ConfigError('mergeModelFolder', 'a decoder with a LoRA adapter (loadAdapter)', 'no adapter');
  const inputs = options.adapterDir ? [options.adapterDir] : [];
  const save = { dtype: options.dtype, force: options.force, shardBytes: options.shardBytes, inputs };
  if (options.requantize) {
    const fourBit = linearModules(decoder.weights).filter((m) => m.base instanceof FourBitBase);
    if (fourBit.length === 0) throw new ConfigError('merge --requantize', 'a 4-bit base (a folder kvant quantize wrote)', 'a dense base (merge writes it dense, exactly)');
    const mergedNames = [...lora.layers.keys()].filter((n) => activeAdapters(decoder, n).length > 0);
    const reports = await lora.merge({ onWarning: () => {} });
    // Modules that were dense (lm_head, skipped modules) hold W + s·B·A exactly; the rest are 4-bit again.
    const parameters = lora.modulesToSave.get(lora.activeAdapter) ?? new Map<string, Tensor>();
    let saved: SavedModel;
    try {
      saved = await saveModelFolder(decoder, out, { ...save, keepFourBit: true, parameters });
    } finally {
      // PEFT's merge_and_unload: the bases keep the merged weights and the adapter is dropped
      // (unmerging a 4-bit merge would round a second time).
      for (const layer of lora.layers.values()) layer.merged.length = 0;
      lora.free();
      decoder.lora = undefined;
    }
    const worst = reports.reduce<AssignReport>(
      (w, r) => ({ maxAbsError: Math.max(w.maxAbsError, r.maxAbsError), relMaxError: Math.max(w.relMaxError, r.relMaxError), relNormError: Math.max(w.relNormError, r.relNormError) }),
      { maxAbsError: 0, relMaxError: 0, relNormError: 0 },
    );
    return { saved, mode: 'requantized', merged: mergedNames, dequantized: [], requantized: reports, worst };
  }
  const w = await mergedDenseWeights(decoder);
  try {
    const saved = await saveModelFolder(decoder, out, { ...save, linearWeights: w.linears, parameters: w.parameters });
    return { saved, mode: 'dense', merged: w.merged, dequantized: w.dequantized, requantized: [], worst: { maxAbsError: 0, relMaxError: 0, relNormError: 0 } };
  } finally {
    w.free();
  }
}
