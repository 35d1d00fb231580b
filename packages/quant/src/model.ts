/**
 * Quantize a local Hugging Face model folder into a folder that transformers with bitsandbytes
 * loads as a 4-bit model: the linear weights of the decoder blocks (`model.layers.*.*_proj.weight`)
 * become bitsandbytes 4-bit tensors; embeddings, norms, biases and lm_head are copied as stored;
 * `config.json` gains `quantization_config`; the tokenizer files are copied. The folder is built
 * in a temporary sibling and renamed into place, so nothing is left half-written.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError, type Runtime } from '@kvant/abi';
import {
  checkOutputPath,
  type HfModelFolder,
  isDecoderLinearWeight,
  openHfModel,
  readJsonFile,
  type SafetensorsDtype,
  type TensorStore,
  type TensorToWrite,
  writeDirAtomic,
  writeSafetensorsSharded,
} from '@kvant/model';
import { fromBnbTensors, type StoredTensor, toBnbTensors } from './bnb';
import { type BitsAndBytesConfig, type FloatDType, type QuantConfig, resolveQuantConfig, toBitsAndBytesConfig } from './config';
import { type PyValue, pythonJsonDumps } from './pyjson';
import { footprint } from './footprint';
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
}

export interface ModelQuantizeReport {
  readonly source: string;
  readonly output: string;
  readonly runtime: string;
  readonly config: ReturnType<typeof resolveQuantConfig>;
  readonly tensors: readonly TensorReport[];
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
  if ('quantization_config' in json) {
    throw new ConfigError(configPath, 'a model that is not quantized yet', `quantization_config ${JSON.stringify(json.quantization_config)}`);
  }
  const text = (await readFile(configPath, 'utf8')).trimEnd();
  const close = text.lastIndexOf('}');
  const body = text.slice(0, close).trimEnd();
  const sep = body.endsWith('{') ? '' : ',';
  const value = pythonJsonDumps(q as unknown as PyValue, 2, 1);
  return `${body}${sep}\n  "quantization_config": ${value}\n}\n`;
}

/** Which tensors of a folder `kvant quantize` replaces with 4-bit ones. */
export function tensorsToQuantize(model: HfModelFolder): string[] {
  return model
    .tensors()
    .filter((t) => isDecoderLinearWeight(t.name) && t.shape.length === 2 && t.dtype in FLOAT_STORED)
    .map((t) => t.name);
}

/** Quantize model folder `source` into `output` on runtime `rt`. */
export async function quantizeModel(
  rt: Runtime,
  source: string,
  output: string,
  config: QuantConfig = {},
  options: ModelQuantizeOptions = {},
): Promise<ModelQuantizeReport> {
  const c = resolveQuantConfig(config);
  if (c.quantType === 'linear') throw new ConfigError('kvant quantize --quant-type', 'nf4 or fp4 (the bitsandbytes 4-bit formats)', 'linear');
  await checkOutputPath(resolve(output), { force: options.force }); // fail before the work, not after
  const model = await openHfModel(source);
  try {
    if (model.config.quantization_config) {
      throw new ConfigError(join(source, 'config.json'), 'a model that is not quantized yet', `quantization_config ${JSON.stringify(model.config.quantization_config)}`);
    }
    const infos = model.tensors();
    const targets = new Set(tensorsToQuantize(model));
    const reports: TensorReport[] = [];
    const out: [string, TensorToWrite][] = [];
    let i = 0;
    for (const info of infos) {
      const bytesBefore = info.byteLength;
      if (!targets.has(info.name)) {
        // Copied as stored; read lazily when the writer reaches it.
        out.push([info.name, { dtype: info.dtype as SafetensorsDtype, shape: info.shape, data: () => model.read(info.name).then((t) => t.data) }]);
        reports.push({ name: info.name, shape: info.shape, storedDtype: info.dtype, quantized: false, bytesBefore, bytesAfter: bytesBefore, bitsPerParameter: (DTYPE_BYTES[info.dtype] ?? 0) * 8 });
        continue;
      }
      i++;
      options.onTensor?.(i, targets.size, info.name);
      const w = await model.readFloat32(info.name);
      const q = (await quantize(rt, w.data, w.shape, c, { dtype: FLOAT_STORED[info.dtype] })) as QuantizedFourBit;
      const error = options.measureError === false ? undefined : errorStats(w.data, await dequantize(rt, q));
      const prefix = info.name.slice(0, -'.weight'.length);
      for (const [k, t] of Object.entries(toBnbTensors(prefix, q))) out.push([k, { dtype: t.dtype, shape: t.shape, data: t.data }]);
      const fp = footprint(q);
      reports.push({ name: info.name, shape: info.shape, storedDtype: info.dtype, quantized: true, bytesBefore, bytesAfter: fp.totalBytes, bitsPerParameter: fp.bitsPerParameter, error });
    }
    const configText = await withQuantizationConfig(join(source, 'config.json'), toBitsAndBytesConfig(c));
    const files = await writeDirAtomic(
      output,
      async (dir) => {
        const written = await writeSafetensorsSharded(dir, out, { maxShardBytes: options.maxShardBytes ?? 5e9, metadata: { format: 'pt' } });
        await writeFile(join(dir, 'config.json'), configText);
        const tok = await model.copyTokenizerFiles(dir);
        return [...written.files, ...(written.indexFile ? [written.indexFile] : []), 'config.json', ...tok];
      },
      { force: options.force },
    );
    return { source, output, runtime: rt.name, config: c, tensors: reports, files };
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
