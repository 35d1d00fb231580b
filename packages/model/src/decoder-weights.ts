/**
 * Loading a decoder's parameters from a Hugging Face folder onto a runtime, one tensor at a time:
 *
 *   model.embed_tokens.weight            [V, C]   f32 on the runtime (also the output head when tied)
 *   model.layers.N.input_layernorm       [C]      f32
 *   model.layers.N.self_attn.{q,k,v}_proj [Q|KV, C] (+ bias [Q|KV] for Qwen2)   BaseWeight
 *     or .qkv_proj [Q + 2KV, C] (Phi-3)
 *   model.layers.N.self_attn.o_proj      [C, Q]   BaseWeight
 *   model.layers.N.post_attention_layernorm [C]   f32
 *   model.layers.N.mlp.{gate,up}_proj    [I, C]   BaseWeight, or .gate_up_proj [2I, C] (Phi-3)
 *   model.layers.N.mlp.down_proj         [C, I]   BaseWeight
 *   model.norm.weight                    [C]      f32
 *   lm_head.weight                       [V, C]   dense f32 BaseWeight (absent when tied)
 *
 * A BaseWeight (@kvant/lora) is dense f32, or 4-bit NF4/FP4 (optionally double-quantized): quantized on
 * load from f32/bf16/f16 (each tensor is read, converted to f32 on the host, quantized on the runtime and
 * dropped before the next is read, so host memory peaks near one tensor), or read as stored from a
 * bitsandbytes 4-bit folder (`kvant quantize` or transformers + bitsandbytes). With `baseDtype`
 * bf16/f16 the blocks' linear weights are held in 16 bits (Dense16Base, linalg.matmul_16bit): a
 * tensor stored in that dtype is uploaded as stored, bit for bit; any other is converted to f32 and
 * rounded to nearest even. Everything else (embeddings, norms, lm_head) is f32.
 * lm_head stays dense f32, as bitsandbytes leaves it.
 */
import { ConfigError, type Runtime, type Tensor, upload } from '@kvant/abi';
import { expectedTensors, type ExpectedTensor, type HfModelFolder, ModelFileError, toFloat32 } from '@kvant/formats';
import { type BaseWeight, DenseBase, Dense16Base, FourBitBase } from '@kvant/lora';
import { isBnb4bit, type QuantConfig, readQuantizedWeight } from '@kvant/quant';
import type { DecoderConfig } from './decoder-config';

/** One linear module: its frozen (or, for full fine-tuning, trainable dense) weight and bias. */
export interface LinearModule {
  /** Module path, e.g. model.layers.0.self_attn.q_proj (the PEFT target name). */
  readonly name: string;
  readonly base: BaseWeight;
  readonly bias?: Tensor;
}

export interface LayerWeights {
  readonly inputNorm: Tensor;
  readonly postNorm: Tensor;
  /** q_proj, k_proj, v_proj — or qkv_proj alone (Phi-3). */
  readonly q?: LinearModule;
  readonly k?: LinearModule;
  readonly v?: LinearModule;
  readonly qkv?: LinearModule;
  readonly o: LinearModule;
  /** gate_proj, up_proj — or gate_up_proj alone (Phi-3). */
  readonly gate?: LinearModule;
  readonly up?: LinearModule;
  readonly gateUp?: LinearModule;
  readonly down: LinearModule;
}

export interface DecoderWeights {
  readonly embed: Tensor;
  readonly layers: readonly LayerWeights[];
  readonly norm: Tensor;
  /** undefined when tie_word_embeddings: the head multiplies by `embed`. */
  readonly lmHead?: LinearModule;
}

export interface WeightLoadOptions {
  /** Quantize the decoder blocks' linear weights to 4-bit while loading (nf4/fp4, blocksize, doubleQuant). */
  readonly quant?: QuantConfig;
  /**
   * How the blocks' dense linear weights are held (default f32): bf16 or f16 halve their bytes. A
   * tensor stored in that dtype is taken as stored; others are rounded to it (nearest even). Not with `quant`.
   */
  readonly baseDtype?: 'f32' | 'bf16' | 'f16';
  /** Called after each tensor (1-based index, count, name, how it was stored and is held now). */
  readonly onTensor?: (index: number, count: number, name: string, how: string) => void;
}

/** What loading did, for reports. */
export interface WeightLoadReport {
  /** Stored dtype of each float tensor read (F32, BF16, F16), or "bnb-nf4"/"bnb-fp4" for stored 4-bit weights. */
  readonly storedDtypes: Readonly<Record<string, number>>;
  /** Bytes the parameters hold on the runtime. */
  readonly deviceBytes: number;
  /** "f32", "bf16", "f16", or "nf4 blocksize 64, double quant" etc. */
  readonly linearStorage: string;
}

/** Which config fields give each dimension of an expected tensor (for shape-mismatch messages). */
function shapeFields(t: ExpectedTensor, c: DecoderConfig): string[] {
  const C = `hidden_size ${c.hidden}`;
  const Q = `num_attention_heads·head_dim ${c.heads}·${c.headDim}`;
  const KV = `num_key_value_heads·head_dim ${c.kvHeads}·${c.headDim}`;
  const I = `intermediate_size ${c.intermediate}`;
  const V = `vocab_size ${c.vocab}`;
  const n = t.name;
  const rows = /embed_tokens|lm_head/.test(n)
    ? V
    : /qkv_proj/.test(n)
      ? `${Q} + 2·${KV}`
      : /q_proj/.test(n)
        ? Q
        : /[kv]_proj/.test(n)
          ? KV
          : /gate_up_proj/.test(n)
            ? `2·${I}`
            : /(gate|up)_proj/.test(n)
              ? I
              : C;
  if (t.shape.length === 1) return [rows];
  const cols = /o_proj/.test(n) ? Q : /down_proj/.test(n) ? I : C;
  return [rows, cols];
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Read every tensor the config says the model has (extra tensors are ignored, as transformers ignores
 * them), refusing a missing one or a wrong shape with a ModelFileError naming the tensor and the config
 * fields of its shape.
 */
export async function loadDecoderWeights(rt: Runtime, folder: HfModelFolder, config: DecoderConfig, options: WeightLoadOptions = {}): Promise<{ weights: DecoderWeights; report: WeightLoadReport }> {
  const hf = folder.config;
  const where = `${folder.dir}/${folder.weightFiles[0]}`;
  const prequantized = hf.quantization_config !== undefined && hf.quantization_config.load_in_4bit === true;
  if (hf.quantization_config !== undefined && !prequantized) {
    throw new ModelFileError(`${folder.dir}/config.json: "quantization_config"`, 'a bitsandbytes 4-bit config (load_in_4bit: true) or none', JSON.stringify(hf.quantization_config));
  }
  if (prequantized && options.quant) {
    throw new ConfigError('loadDecoderWeights quant', 'no quantization for a folder that is already 4-bit', JSON.stringify(hf.quantization_config));
  }
  const baseDtype = options.baseDtype ?? 'f32';
  if (!['f32', 'bf16', 'f16'].includes(baseDtype)) throw new ConfigError('loadDecoderWeights baseDtype', "'f32', 'bf16' or 'f16'", JSON.stringify(baseDtype));
  if (options.quant && baseDtype !== 'f32') throw new ConfigError('loadDecoderWeights baseDtype', "'f32' (or none) with quant: quantization sets the storage", JSON.stringify(baseDtype));
  const half = baseDtype === 'f32' ? undefined : baseDtype;
  const expected = expectedTensors(hf);
  const has = (k: string) => folder.has(k);
  const storedDtypes: Record<string, number> = {};
  const owned: { tensors: Tensor[]; bases: BaseWeight[] } = { tensors: [], bases: [] };
  const byName = new Map<string, Tensor | BaseWeight>();
  let linearStorage: string = baseDtype;
  try {
    let index = 0;
    for (const t of expected) {
      index++;
      const prefix = t.name.slice(0, -'.weight'.length);
      const fields = shapeFields(t, config);
      const mismatch = (found: readonly number[]) =>
        new ModelFileError(`${where}: tensor "${t.name}"`, `shape [${t.shape.join(', ')}] ([${fields.join(', ')}] from config.json)`, `[${found.join(', ')}]`);
      if (t.role === 'linear' && prequantized && isBnb4bit(prefix, has)) {
        const q = await readQuantizedWeight(folder.weights, prefix);
        if (!sameShape(q.shape, t.shape)) throw mismatch(q.shape);
        const base = FourBitBase.fromQuantized(rt, q);
        owned.bases.push(base);
        byName.set(t.name, base);
        linearStorage = base.describe().replace(/ \[.*?\]/, '');
        storedDtypes[`bnb-${q.format}`] = (storedDtypes[`bnb-${q.format}`] ?? 0) + 1;
        options.onTensor?.(index, expected.length, t.name, base.describe());
        continue;
      }
      if (!folder.has(t.name)) {
        throw new ModelFileError(`${where}: tensor "${t.name}"`, `a tensor of shape [${t.shape.join(', ')}] ([${fields.join(', ')}] from config.json; model_type ${hf.model_type})`, 'no such tensor');
      }
      const info = folder.info(t.name);
      if (!sameShape(info.shape, t.shape)) throw mismatch(info.shape);
      if (half && t.role === 'linear') {
        const raw = await folder.read(t.name);
        storedDtypes[raw.dtype] = (storedDtypes[raw.dtype] ?? 0) + 1;
        const shape = t.shape as [number, number];
        const asStored = raw.dtype === (half === 'bf16' ? 'BF16' : 'F16');
        const base = asStored ? Dense16Base.fromBits(rt, raw.data as Uint16Array, shape, half) : Dense16Base.fromValues(rt, toFloat32(raw, `${where}: tensor "${t.name}"`), shape, half);
        owned.bases.push(base);
        byName.set(t.name, base);
        options.onTensor?.(index, expected.length, t.name, `${raw.dtype} -> ${base.describe()}${asStored ? ' (as stored)' : ' (rounded)'}`);
        continue;
      }
      const { data, storedDtype } = await folder.readFloat32(t.name);
      storedDtypes[storedDtype] = (storedDtypes[storedDtype] ?? 0) + 1;
      if (t.role === 'linear' || t.role === 'lm_head') {
        const shape = t.shape as [number, number];
        const base = options.quant && t.role === 'linear' ? await FourBitBase.quantize(rt, data, shape, options.quant) : DenseBase.fromValues(rt, data, shape);
        if (options.quant && t.role === 'linear') linearStorage = base.describe().replace(/ \[.*?\]/, '');
        owned.bases.push(base);
        byName.set(t.name, base);
        options.onTensor?.(index, expected.length, t.name, `${storedDtype} -> ${base.describe()}`);
      } else {
        const tensor = upload(rt, 'f32', t.shape, data);
        owned.tensors.push(tensor);
        byName.set(t.name, tensor);
        options.onTensor?.(index, expected.length, t.name, `${storedDtype} -> f32`);
      }
    }
  } catch (e) {
    for (const t of owned.tensors) rt.free(t);
    for (const b of owned.bases) b.free();
    throw e;
  }
  const tensor = (name: string) => byName.get(name) as Tensor;
  const linear = (name: string): LinearModule => {
    const bias = byName.get(`${name}.bias`) as Tensor | undefined;
    return { name, base: byName.get(`${name}.weight`) as BaseWeight, ...(bias ? { bias } : {}) };
  };
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.layers; l++) {
    const p = `model.layers.${l}`;
    const attn = config.fused
      ? { qkv: linear(`${p}.self_attn.qkv_proj`) }
      : { q: linear(`${p}.self_attn.q_proj`), k: linear(`${p}.self_attn.k_proj`), v: linear(`${p}.self_attn.v_proj`) };
    const mlp = config.fused ? { gateUp: linear(`${p}.mlp.gate_up_proj`) } : { gate: linear(`${p}.mlp.gate_proj`), up: linear(`${p}.mlp.up_proj`) };
    layers.push({
      inputNorm: tensor(`${p}.input_layernorm.weight`),
      postNorm: tensor(`${p}.post_attention_layernorm.weight`),
      ...attn,
      o: linear(`${p}.self_attn.o_proj`),
      ...mlp,
      down: linear(`${p}.mlp.down_proj`),
    });
  }
  const weights: DecoderWeights = {
    embed: tensor('model.embed_tokens.weight'),
    layers,
    norm: tensor('model.norm.weight'),
    ...(config.tied ? {} : { lmHead: linear('lm_head') }),
  };
  let deviceBytes = 0;
  for (const t of owned.tensors) deviceBytes += t.byteLength;
  for (const b of owned.bases) deviceBytes += b.byteLength;
  return { weights, report: { storedDtypes, deviceBytes, linearStorage } };
}

/** Every linear module in state_dict order (the output head last when untied). */
export function linearModules(w: DecoderWeights): LinearModule[] {
  const out: LinearModule[] = [];
  for (const l of w.layers) {
    for (const m of [l.q, l.k, l.v, l.qkv, l.o, l.gate, l.up, l.gateUp, l.down]) if (m) out.push(m);
  }
  if (w.lmHead) out.push(w.lmHead);
  return out;
}

/** Every non-linear parameter by its Hugging Face name (embeddings, norms). */
export function otherParameters(w: DecoderWeights): Record<string, Tensor> {
  const out: Record<string, Tensor> = { 'model.embed_tokens.weight': w.embed };
  w.layers.forEach((l, i) => {
    out[`model.layers.${i}.input_layernorm.weight`] = l.inputNorm;
    out[`model.layers.${i}.post_attention_layernorm.weight`] = l.postNorm;
  });
  out['model.norm.weight'] = w.norm;
  return out;
}

/** Free every parameter. */
export function freeDecoderWeights(rt: Runtime, w: DecoderWeights): void {
  for (const m of linearModules(w)) {
    m.base.free();
    if (m.bias) rt.free(m.bias);
  }
  for (const t of Object.values(otherParameters(w))) rt.free(t);
}
