/**
 * Saving a decoder's current weights as a Hugging Face model folder that transformers loads:
 *
 *   config.json                 the source folder's config, torch_dtype set to what was written
 *                               (quantization_config kept only when 4-bit weights are written)
 *   model.safetensors           HF tensor names in state_dict order (or shards + index past shardBytes):
 *                               model.embed_tokens.weight, model.layers.N.…, model.norm.weight, lm_head.weight
 *                               (absent when tie_word_embeddings: the head stays tied to the embedding)
 *   tokenizer.json, …           copied from the source folder when present (TOKENIZER_FILES)
 *
 * Dense weights are read back from the runtime one tensor at a time and written as f32, bf16 or f16.
 * A 4-bit base is refused (ConfigError naming the module) unless the caller passes a dense weight for
 * that module (`linearWeights`, e.g. a merged dense copy) or asks to keep it 4-bit (`keepFourBit`: the
 * bitsandbytes keys of docs/formats.md, as `kvant quantize` writes them). The folder is written
 * atomically (writeDirAtomic): it appears complete or not at all.
 */
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError, downloadF32, type Tensor } from '@kvant/abi';
import {
  fromFloat32,
  fsError,
  isJsonObject,
  type JsonValue,
  pathExists,
  readJsonFile,
  readRegularFile,
  TOKENIZER_FILES,
  type TensorToWrite,
  writeDirAtomic,
  writeSafetensorsSharded,
} from '@kvant/formats';
import { type BaseWeight, denseCopy, FourBitBase } from '@kvant/lora';
import { fromBitsAndBytesConfig, type PyValue, pythonJsonDumps, toBitsAndBytesConfig, toBnbTensors } from '@kvant/quant';
import type { Decoder } from './decoder';
import { linearModules, otherParameters } from './decoder-weights';

/** Storage dtype of the written float tensors. */
export type SaveDtype = 'f32' | 'bf16' | 'f16';

const TORCH_DTYPE: Readonly<Record<SaveDtype, string>> = { f32: 'float32', bf16: 'bfloat16', f16: 'float16' };
const ST_DTYPE = { f32: 'F32', bf16: 'BF16', f16: 'F16' } as const;

export interface SaveModelOptions {
  /** Storage dtype of every float tensor (default f32: exact). */
  readonly dtype?: SaveDtype;
  /** Replace an existing folder (only at the end, when the new one is complete). */
  readonly force?: boolean;
  /** Largest shard in bytes (default 5e9, as save_pretrained); past it, shards and an index. */
  readonly shardBytes?: number;
  /** Weights to write instead of a module's own base, by module name (merged dense copies). */
  readonly linearWeights?: ReadonlyMap<string, BaseWeight>;
  /** Tensors to write instead of the decoder's, by HF tensor name (modules_to_save copies). */
  readonly parameters?: ReadonlyMap<string, Tensor>;
  /** Write 4-bit bases as bitsandbytes 4-bit tensors (with quantization_config) instead of refusing them. */
  readonly keepFourBit?: boolean;
  /** More paths the output must not overlap (the source folder is always one). */
  readonly inputs?: readonly string[];
}

/** What was written. */
export interface SavedModel {
  readonly dir: string;
  readonly files: readonly string[];
  readonly tensors: number;
  readonly dtype: SaveDtype;
  /** Modules written as bitsandbytes 4-bit (keepFourBit). */
  readonly fourBitModules: readonly string[];
}

/** The source config.json as an object, with the keys a saved dense or 4-bit folder must change. */
async function sourceConfig(source: string): Promise<Record<string, JsonValue>> {
  const json = await readJsonFile(join(source, 'config.json'));
  if (!isJsonObject(json)) throw new ConfigError(`${source}/config.json`, 'a JSON object', typeof json);
  return { ...json };
}

/** config.json text: `config` as JSON, with a bitsandbytes quantization_config written as Python's json.dumps (floats stay floats). */
function configText(config: Record<string, JsonValue>, quantization: PyValue | undefined): string {
  const body = JSON.stringify(config, null, 2);
  if (quantization === undefined) return `${body}\n`;
  const open = body.slice(0, body.lastIndexOf('}')).trimEnd();
  return `${open}${open.endsWith('{') ? '' : ','}\n  "quantization_config": ${pythonJsonDumps(quantization, 2, 1)}\n}\n`;
}

/**
 * Write `decoder`'s weights to `dir` as a Hugging Face folder (see the file comment). Needs
 * `decoder.source` (the folder it was loaded from) for config.json and the tokenizer files.
 */
export async function saveModelFolder(decoder: Decoder, dir: string, options: SaveModelOptions = {}): Promise<SavedModel> {
  const dtype = options.dtype ?? 'f32';
  if (!(dtype in ST_DTYPE)) throw new ConfigError('saveModelFolder dtype', 'f32, bf16 or f16', JSON.stringify(dtype));
  const source = decoder.source;
  if (source === undefined) throw new ConfigError('saveModelFolder', 'a decoder loaded from a folder (Decoder.fromFolder: its config.json and tokenizer are copied)', 'a decoder without a source folder');
  const linears = linearModules(decoder.weights);
  const override = options.linearWeights ?? new Map<string, BaseWeight>();
  const params = options.parameters ?? new Map<string, Tensor>();
  // Refuse before anything is written.
  const fourBit: { name: string; base: FourBitBase }[] = [];
  for (const m of linears) {
    const base = override.get(m.name) ?? m.base;
    // Dense bases (f32, or bf16/f16 widened exactly) are written as dense tensors of `dtype`.
    if (params.has(`${m.name}.weight`) || !(base instanceof FourBitBase)) continue;
    if (!options.keepFourBit || !(base instanceof FourBitBase)) {
      throw new ConfigError(
        `saveModelFolder: ${m.name}`,
        'a dense f32 weight (merge or dequantize a 4-bit base first, e.g. kvant merge, or keep it 4-bit with keepFourBit)',
        base.describe(),
      );
    }
    fourBit.push({ name: m.name, base });
  }
  const config = await sourceConfig(source);
  let quantization: PyValue | undefined;
  delete config.quantization_config;
  config.torch_dtype = TORCH_DTYPE[dtype];
  if ('dtype' in config) config.dtype = TORCH_DTYPE[dtype];
  if (fourBit.length > 0) {
    const b = fourBit[0].base;
    const sourceQ = (await sourceConfig(source)).quantization_config;
    const resolved = isJsonObject(sourceQ ?? undefined) ? fromBitsAndBytesConfig(sourceQ as Record<string, unknown>) : undefined;
    const bnb = toBitsAndBytesConfig({
      quantType: b.storage,
      blocksize: b.blocksize,
      doubleQuant: b.doubleQuant,
      computeDtype: resolved?.computeDtype ?? 'float32',
      bits: 4,
      group: undefined,
      symmetric: true,
    });
    const skip = isJsonObject(sourceQ ?? undefined) ? (sourceQ as Record<string, JsonValue>).llm_int8_skip_modules : null;
    quantization = { ...(bnb as unknown as Record<string, PyValue>), llm_int8_skip_modules: Array.isArray(skip) ? (skip as string[]) : null };
  }

  const st = ST_DTYPE[dtype];
  const dense = (t: Tensor, shape: readonly number[]): TensorToWrite => ({ dtype: st, shape, data: async () => fromFloat32(await downloadF32(t), st, shape).data });
  const denseBase = (base: BaseWeight): TensorToWrite => {
    const shape = [base.outFeatures, base.inFeatures];
    return {
      dtype: st,
      shape,
      data: async () => {
        const t = denseCopy(base);
        try {
          return fromFloat32(await downloadF32(t), st, shape).data;
        } finally {
          base.runtime.free(t);
        }
      },
    };
  };
  const fourBitNames = new Set(fourBit.map((f) => f.name));
  const byModule = new Map(linears.map((m) => [m.name, m]));
  const others = otherParameters(decoder.weights);
  const tensors: [string, TensorToWrite][] = [];
  const addOther = (name: string) => {
    const t = params.get(name) ?? others[name];
    tensors.push([name, dense(t, t.shape)]);
  };
  const addLinear = async (name: string) => {
    const m = byModule.get(name)!;
    const w = params.get(`${name}.weight`);
    if (w) tensors.push([`${name}.weight`, dense(w, w.shape)]);
    else if (fourBitNames.has(name)) {
      const q = await (m.base as FourBitBase).toQuantized();
      for (const [k, t] of Object.entries(toBnbTensors(name, q))) tensors.push([k, { dtype: t.dtype, shape: t.shape, data: t.data }]);
    } else tensors.push([`${name}.weight`, denseBase(override.get(name) ?? m.base)]);
    const bias = params.get(`${name}.bias`) ?? m.bias;
    if (bias) tensors.push([`${name}.bias`, dense(bias, bias.shape)]);
  };
  // state_dict order: embedding, each block (norms and projections), final norm, head.
  addOther('model.embed_tokens.weight');
  for (let i = 0; i < decoder.weights.layers.length; i++) {
    const p = `model.layers.${i}`;
    addOther(`${p}.input_layernorm.weight`);
    for (const m of linears) if (m.name.startsWith(`${p}.self_attn.`)) await addLinear(m.name);
    addOther(`${p}.post_attention_layernorm.weight`);
    for (const m of linears) if (m.name.startsWith(`${p}.mlp.`)) await addLinear(m.name);
  }
  addOther('model.norm.weight');
  if (decoder.weights.lmHead) await addLinear(decoder.weights.lmHead.name);

  const tokenizerFiles: string[] = [];
  for (const f of TOKENIZER_FILES) if (await pathExists(join(source, f))) tokenizerFiles.push(f);
  const inputs = [source, ...(options.inputs ?? [])];
  const files = await writeDirAtomic(
    resolve(dir),
    async (tmp) => {
      const written = await writeSafetensorsSharded(tmp, tensors, { maxShardBytes: options.shardBytes ?? 5e9, metadata: { format: 'pt' } });
      const write = async (name: string, bytes: Uint8Array | string) => {
        try {
          await writeFile(join(tmp, name), bytes);
        } catch (e) {
          throw fsError(e, join(dir, name), 'a writable output file');
        }
      };
      await write('config.json', configText(config, quantization));
      for (const f of tokenizerFiles) await write(f, await readRegularFile(join(source, f), 'a readable tokenizer or generation file (a regular file)'));
      return [...written.files, ...(written.indexFile ? [written.indexFile] : []), 'config.json', ...tokenizerFiles];
    },
    { force: options.force, inputs },
  );
  return { dir, files, tensors: tensors.length, dtype, fourBitModules: fourBit.map((f) => f.name) };
}
