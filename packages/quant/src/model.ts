/**
 * Quantize a local Hugging Face model folder into a folder that transformers with bitsandbytes
 * loads as a 4-bit model: the linear weights of the decoder blocks (`model.layers.*.*_proj.weight`)
 * become bitsandbytes 4-bit tensors; embeddings, norms, biases and lm_head are copied as stored;
 * `config.json` gains `quantization_config`; the tokenizer files are copied. The folder is built
 * in a temporary sibling and renamed into place, so nothing is left half-written.
 */
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError, KvantError, type Runtime, TensorError } from '@kvant/abi';
import {
  fsError,
  type HfModelFolder,
  openHfModel,
  readJsonFile,
  readRegularFile,
  type SafetensorsDtype,
  type TensorStore,
  type TensorToWrite,
  writeDirAtomic,
  writeSafetensorsSharded,
} from '@kvant/formats';
import { fromBnbTensors, type StoredTensor, toBnbTensors } from './bnb';
import { type BitsAndBytesConfig, type FloatDType, type QuantConfig, resolveQuantConfig, toBitsAndBytesConfig } from './config';
import { type PyValue, pythonJsonDumps } from './pyjson';
import { footprint } from './footprint';
import { type KeptTensor, planModelQuantization } from './model-plan';
import { countNonFinite, NonFiniteWeightError, replaceNonFinite } from './nonfinite';
import { dequantize, type QuantizedFourBit, quantize } from './quantize';
import { type ErrorStats, errorStats } from './stats';

/** One tensor of the report. */
export interface TensorReport {
  readonly name: string;
  readonly shape: readonly number[];
  readonly storedDtype: string;
  readonly quantized: boolean;
  /** Bytes as stored in the source folder. */
  readonly bytesBefore: number;
  /** Bytes written: packed codes + statistics + tables for quantized tensors. */
  readonly bytesAfter: number;
  readonly bitsPerParameter: number;
  /** Error of the dequantized weight against the original (quantized tensors only). */
  readonly error?: ErrorStats;
  /** Why a tensor was copied as stored (kept tensors only). */
  readonly keptReason?: string;
  /** NaN/Inf elements replaced before quantizing (with allowNonFinite only). */
  readonly nonFiniteReplaced?: number;
}

export interface ModelQuantizeReport {
  readonly source: string;
  readonly output: string;
  readonly runtime: string;
  readonly config: ReturnType<typeof resolveQuantConfig>;
  readonly tensors: readonly TensorReport[];
  /** Tensors copied as stored, with the reason for each. */
  readonly kept: readonly KeptTensor[];
  /** `llm_int8_skip_modules` as written into quantization_config (null: none deliberately kept). */
  readonly skipModules: readonly string[] | null;
  /** Things the reader or the quantizer decided that the user should know. */
  readonly notes: readonly string[];
  readonly files: readonly string[];
}

export interface ModelQuantizeOptions {
  /** Replace an existing output folder. */
  readonly force?: boolean;
  /** Called after each tensor: index (1-based), count, name. */
  readonly onTensor?: (index: number, count: number, name: string) => void;
  /** Compute error statistics by dequantizing each tensor (default true). */
  readonly measureError?: boolean;
  /** Largest shard of the output in bytes (default 5 GB, as transformers' save_pretrained). */
  readonly maxShardBytes?: number;
  /** Module names whose linear weights stay in full precision (written as `llm_int8_skip_modules`). */
  readonly skipModules?: readonly string[];
  /** Quantize weights holding NaN/Inf after mapping them (see nonfinite.ts) instead of refusing them. */
  readonly allowNonFinite?: boolean;
}

const FLOAT_STORED: Record<string, FloatDType> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };
const DTYPE_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, U64: 8, I32: 4, U32: 4, I16: 2, U16: 2, I8: 1, U8: 1, BOOL: 1 };

/**
 * config.json with `quantization_config` added. The original text is kept as it is (so floats
 * such as `10000.0` stay floats for transformers) and the new key is inserted before the closing
 * brace, written as Python's json.dumps writes it.
 */
export async function withQuantizationConfig(configPath: string, q: BitsAndBytesConfig): Promise<string> {
  const json = (await readJsonFile(configPath)) as Record<string, unknown>;
  if (Object.hasOwn(json, 'quantization_config')) {
    throw new ConfigError(configPath, 'a model that is not quantized yet', `quantization_config ${JSON.stringify(json.quantization_config)}`);
  }
  const text = (await readRegularFile(configPath, 'a readable JSON file')).toString('utf8').trimEnd();
  const close = text.lastIndexOf('}');
  const body = text.slice(0, close).trimEnd();
  const sep = body.endsWith('{') ? '' : ',';
  const value = pythonJsonDumps(q as unknown as PyValue, 2, 1);
  return `${body}${sep}\n  "quantization_config": ${value}\n}\n`;
}

/** Which tensors of a folder `kvant quantize` replaces with 4-bit ones (after checking the folder against its config). */
export function tensorsToQuantize(model: HfModelFolder, skipModules: readonly string[] = []): string[] {
  return [...planModelQuantization(model, skipModules).quantize];
}

/**
 * Quantize model folder `source` into `output` on runtime `rt`. Everything that can be checked is
 * checked before any tensor is quantized: the folder against its config (planModelQuantization),
 * the output against the inputs and for existence, and the output location (created first).
 * The output is written atomically (writeDirAtomic): on any error or signal nothing is left.
 */
export async function quantizeModel(
  rt: Runtime,
  source: string,
  output: string,
  config: QuantConfig = {},
  options: ModelQuantizeOptions = {},
): Promise<ModelQuantizeReport> {
  const c = resolveQuantConfig(config);
  if (c.quantType === 'linear') throw new ConfigError('kvant quantize --quant-type', 'nf4 or fp4 (the bitsandbytes 4-bit formats)', 'linear');
  const model = await openHfModel(source);
  try {
    const plan = planModelQuantization(model, options.skipModules);
    const configText = await withQuantizationConfig(join(source, 'config.json'), { ...toBitsAndBytesConfig(c), llm_int8_skip_modules: plan.skipModules });
    const targets = new Set(plan.quantize);
    const keptReason = new Map(plan.kept.map((k) => [k.name, k.reason]));
    const notes = [...model.notes];
    const build = async (dir: string) => {
      const reports: TensorReport[] = [];
      const out: [string, TensorToWrite][] = [];
      let i = 0;
      for (const info of model.tensors()) {
        const bytesBefore = info.byteLength;
        if (!targets.has(info.name)) {
          // Copied as stored; read lazily when the writer reaches it.
          out.push([info.name, { dtype: info.dtype as SafetensorsDtype, shape: info.shape, data: () => model.read(info.name).then((t) => t.data) }]);
          reports.push({
            name: info.name,
            shape: info.shape,
            storedDtype: info.dtype,
            quantized: false,
            bytesBefore,
            bytesAfter: bytesBefore,
            bitsPerParameter: (DTYPE_BYTES[info.dtype] ?? 0) * 8,
            keptReason: keptReason.get(info.name),
          });
          continue;
        }
        i++;
        options.onTensor?.(i, targets.size, info.name);
        const where = `${info.file}: tensor "${info.name}"`;
        const w = await model.readFloat32(info.name);
        const bad = countNonFinite(w.data);
        let nonFiniteReplaced: number | undefined;
        if (bad.count > 0) {
          if (!options.allowNonFinite) throw new NonFiniteWeightError(where, bad);
          nonFiniteReplaced = replaceNonFinite(w.data);
          notes.push(`${info.name}: ${nonFiniteReplaced} non-finite element(s) mapped (NaN -> 0, ±Inf -> ±max|finite|) before quantizing`);
        }
        let q: QuantizedFourBit;
        let error: ErrorStats | undefined;
        try {
          q = (await quantize(rt, w.data, w.shape, c, { dtype: FLOAT_STORED[info.dtype] })) as QuantizedFourBit;
          error = options.measureError === false ? undefined : errorStats(w.data, await dequantize(rt, q));
        } catch (e) {
          if (e instanceof KvantError) throw new TensorError(where, `a weight the ${c.quantType} quantizer on ${rt.name} accepts`, `${e.name}: ${e.message}`);
          throw e;
        }
        const prefix = info.name.slice(0, -'.weight'.length);
        for (const [k, t] of Object.entries(toBnbTensors(prefix, q))) out.push([k, { dtype: t.dtype, shape: t.shape, data: t.data }]);
        const fp = footprint(q);
        reports.push({
          name: info.name,
          shape: info.shape,
          storedDtype: info.dtype,
          quantized: true,
          bytesBefore,
          bytesAfter: fp.totalBytes,
          bitsPerParameter: fp.bitsPerParameter,
          error,
          nonFiniteReplaced,
        });
      }
      const written = await writeSafetensorsSharded(dir, out, { maxShardBytes: options.maxShardBytes ?? 5e9, metadata: { format: 'pt' } });
      try {
        await writeFile(join(dir, 'config.json'), configText);
      } catch (e) {
        throw fsError(e, join(output, 'config.json'), 'a writable output file');
      }
      const tok = await model.copyTokenizerFiles(dir);
      return { reports, files: [...written.files, ...(written.indexFile ? [written.indexFile] : []), 'config.json', ...tok] };
    };
    const { reports, files } = await writeDirAtomic(resolve(output), build, { force: options.force, inputs: model.inputPaths() });
    return { source, output, runtime: rt.name, config: c, tensors: reports, kept: plan.kept, skipModules: plan.skipModules, notes, files };
  } finally {
    await model.close();
  }
}

/**
 * Read a bitsandbytes 4-bit weight (`<prefix>.weight` and its statistics) from a model folder or
 * safetensors store written by kvant or by transformers.
 */
export async function readQuantizedWeight(store: Pick<TensorStore, 'names' | 'read'>, prefix: string): Promise<QuantizedFourBit> {
  const w = `${prefix}.weight`;
  const tensors = new Map<string, StoredTensor>();
  for (const name of store.names()) {
    if (name !== w && !name.startsWith(`${w}.`)) continue;
    const t = await store.read(name);
    tensors.set(name, { dtype: t.dtype as StoredTensor['dtype'], shape: t.shape, data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) });
  }
  return fromBnbTensors(prefix, (k) => tensors.get(k));
}
