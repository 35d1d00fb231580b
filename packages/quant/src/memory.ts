/**
 * Memory accounting from a Hugging Face `config.json`: parameter counts, weight bytes in each
 * storage format (fp32, bf16, int8, NF4, NF4 + double quantization), and estimates for full
 * fine-tuning, LoRA and QLoRA. Pure functions: no files, no runtime.
 *
 * Two byte counts are given for each format:
 * - `footprintBytes`: what transformers' `model.get_memory_footprint()` reports. It sums
 *   parameters and buffers only, so a 4-bit linear layer counts its packed weight (0.5 byte per
 *   element) and nothing else; absmax, quant_map and the nested statistics live in a plain Python
 *   `QuantState` and are not counted (docs/formats.md, "What get_memory_footprint counts").
 * - `trueBytes`: everything that must sit in memory, statistics and tables included.
 *
 * Layouts: Llama, Mistral, Qwen2/Qwen3, Phi-3 (fused `qkv_proj` and `gate_up_proj`), Gemma/Gemma2
 * (tied embeddings). Activations, the KV cache and framework overhead are not counted.
 */
import { ConfigError } from '@kvant/abi';
import { expectedTensors, type JsonValue, MODEL_LAYOUTS, ModelFileError, parseHfConfig } from '@kvant/formats';
import { DEFAULT_BLOCKSIZE, NESTED_BLOCKSIZE } from './config';

/** dtype of everything that is not a 4-bit or 8-bit linear weight (embeddings, norms, biases, lm_head). */
export type RestDtype = 'fp32' | 'bf16' | 'fp16';

/** Options of the memory functions; every field has a default. */
export interface MemoryOptions {
  /** LoRA rank R (default 16). */
  loraR?: number;
  /**
   * Modules that get a LoRA adapter: names such as `q_proj`, or `'all-linear'` (every `*_proj`
   * of the decoder blocks, as PEFT's `all-linear`, lm_head excluded). Default: the attention
   * projections q_proj, k_proj, v_proj, o_proj (on Phi-3: qkv_proj, o_proj).
   */
  targetModules?: readonly string[] | 'all-linear';
  /** 4-bit blocksize, a power of two from 32 to 4096 (default 64, the bitsandbytes default). */
  blocksize?: number;
  /** dtype of the parameters that stay unquantized (default 'bf16'). */
  restDtype?: RestDtype;
  /** What names the config in errors: its path, or `preset <name>` (default `config.json`). */
  source?: string;
}

/** Default LoRA rank. */
export const DEFAULT_LORA_R = 16;
/** Default LoRA targets: the attention projections. */
export const DEFAULT_TARGET_MODULES: readonly string[] = ['q_proj', 'k_proj', 'v_proj', 'o_proj'];

const REST_BYTES: Record<RestDtype, number> = { fp32: 4, bf16: 2, fp16: 2 };

/** A linear layer of a decoder block: weight `[outFeatures, inFeatures]`, optional bias `[outFeatures]`. */
export interface LinearModule {
  readonly name: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly bias: boolean;
}

/** The shape facts of a decoder-only model, read from its config. */
export interface Architecture {
  readonly modelType: string;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly vocabSize: number;
  readonly tiedEmbeddings: boolean;
  /** The `*_proj` linears of one decoder block. */
  readonly linears: readonly LinearModule[];
  /** Parameters of the norms of one decoder block (RMSNorm weights, q/k norms). */
  readonly normParamsPerLayer: number;
}

/** Model types whose layout this module knows (those of @kvant/formats' LAYOUT_RULES). */
export const SUPPORTED_MODEL_TYPES: readonly string[] = MODEL_LAYOUTS;

/**
 * Read the architecture of a decoder-only model from its `config.json` object, with the rules of
 * @kvant/formats (the same reader `kvant quantize` uses): the linears and norms of one block are
 * those of `expectedTensors`. `source` names the config in errors (a path, or `preset <name>`).
 * Throws ModelFileError naming the field when one is missing or malformed.
 */
export function describeArchitecture(configJson: unknown, source = 'config.json'): Architecture {
  const config = parseHfConfig(configJson as JsonValue, source);
  if (config.layout === undefined) {
    throw new ModelFileError(source, `"model_type" one of ${MODEL_LAYOUTS.join(', ')}`, JSON.stringify(config.model_type));
  }
  const tensors = expectedTensors(config);
  const block = 'model.layers.0.';
  const names = new Set(tensors.map((t) => t.name));
  const linears: LinearModule[] = tensors
    .filter((t) => t.role === 'linear' && t.name.startsWith(block))
    .map((t) => {
      const module = t.name.slice(0, -'.weight'.length);
      return { name: module.split('.').pop()!, inFeatures: t.shape[1], outFeatures: t.shape[0], bias: names.has(`${module}.bias`) };
    });
  const normParamsPerLayer = tensors.filter((t) => t.role === 'norm' && t.name.startsWith(block)).reduce((n, t) => n + t.shape[0], 0);
  return {
    modelType: config.model_type,
    hiddenSize: config.hidden_size,
    intermediateSize: config.intermediate_size,
    numLayers: config.num_hidden_layers,
    numHeads: config.num_attention_heads,
    numKvHeads: config.num_key_value_heads,
    headDim: config.head_dim,
    vocabSize: config.vocab_size,
    tiedEmbeddings: config.tie_word_embeddings,
    linears,
    normParamsPerLayer,
  };
}

/** Parameter counts, split into the quantizable linear weights and the rest. */
export interface ParameterCount {
  readonly total: number;
  /** `*_proj.weight` under `model.layers.*`: what 4-bit and 8-bit formats quantize. */
  readonly linear: number;
  /** Everything else, kept in the rest dtype: embeddings, lm_head, norms, biases. */
  readonly rest: number;
  readonly embedding: number;
  /** 0 when tied to the embedding (the tensor is shared, counted once). */
  readonly lmHead: number;
  readonly norms: number;
  readonly biases: number;
  /** Number of linear weight tensors (each carries its own quant_map and nested tables). */
  readonly linearTensors: number;
}

/** Count the parameters of a model from its config (`source` names it in errors). */
export function countParameters(configJson: unknown, source?: string): ParameterCount {
  return countFromArchitecture(describeArchitecture(configJson, source));
}

function countFromArchitecture(a: Architecture): ParameterCount {
  let linearPerLayer = 0;
  let biasPerLayer = 0;
  for (const m of a.linears) {
    linearPerLayer += m.inFeatures * m.outFeatures;
    if (m.bias) biasPerLayer += m.outFeatures;
  }
  const linear = linearPerLayer * a.numLayers;
  const biases = biasPerLayer * a.numLayers;
  const embedding = a.vocabSize * a.hiddenSize;
  const lmHead = a.tiedEmbeddings ? 0 : a.vocabSize * a.hiddenSize;
  const norms = a.normParamsPerLayer * a.numLayers + a.hiddenSize; // + the final norm
  const rest = embedding + lmHead + norms + biases;
  return { total: linear + rest, linear, rest, embedding, lmHead, norms, biases, linearTensors: a.linears.length * a.numLayers };
}

/** Check a 4-bit blocksize: a power of two from 32 to 4096. */
export function checkBlocksize(blocksize: number): number {
  if (!Number.isInteger(blocksize) || blocksize < 32 || blocksize > 4096 || (blocksize & (blocksize - 1)) !== 0) {
    throw new ConfigError('memory option blocksize', 'a power of two from 32 to 4096', String(blocksize));
  }
  return blocksize;
}

/**
 * Bits per parameter of a 4-bit format, for a tensor large enough that the per-tensor tables
 * vanish: 4 + 32/blocksize (one f32 absmax per block), or with double quantization
 * 4 + 8/blocksize + 32/(blocksize * 256) (a u8 absmax per block, an f32 nested absmax per 256 blocks).
 * blocksize 64: 4.5, or 4.126953125 with double quantization.
 */
export function fourBitBitsPerParam(blocksize: number, doubleQuant: boolean): number {
  checkBlocksize(blocksize);
  return doubleQuant ? 4 + 8 / blocksize + 32 / (blocksize * NESTED_BLOCKSIZE) : 4 + 32 / blocksize;
}

/** The bytes of one 4-bit quantized tensor of n elements, as bitsandbytes keeps it (docs/formats.md). */
export interface FourBitTensorBytes {
  /** Packed codes, two per byte: ceil(n/2). The only part get_memory_footprint counts. */
  readonly packed: number;
  /** First-level absmax: f32 per block, or u8 per block with double quantization. */
  readonly absmax: number;
  /** Nested absmax (double quantization): f32 per 256 blocks. */
  readonly nestedAbsmax: number;
  /** quant_map (16 f32), plus with double quantization nested_quant_map (256 f32) and the f32 offset. */
  readonly tables: number;
  readonly total: number;
}

/** Bytes of one 4-bit tensor of n elements (packed codes, statistics and tables). */
export function fourBitTensorBytes(n: number, blocksize: number, doubleQuant: boolean): FourBitTensorBytes {
  checkBlocksize(blocksize);
  const blocks = Math.ceil(n / blocksize);
  const packed = Math.ceil(n / 2);
  const absmax = doubleQuant ? blocks : 4 * blocks;
  const nestedAbsmax = doubleQuant ? 4 * Math.ceil(blocks / NESTED_BLOCKSIZE) : 0;
  const tables = 16 * 4 + (doubleQuant ? 256 * 4 + 4 : 0);
  return { packed, absmax, nestedAbsmax, tables, total: packed + absmax + nestedAbsmax + tables };
}

/** Storage formats of the linear weights. */
export type WeightFormat = 'fp32' | 'bf16' | 'int8' | 'nf4' | 'nf4+dq';

/** Weight memory of a whole model in one format. */
export interface WeightMemory {
  readonly format: WeightFormat;
  /** How the parts are stored, in words. */
  readonly description: string;
  /** What transformers' get_memory_footprint() reports (parameters and buffers only). */
  readonly footprintBytes: number;
  /** Everything in memory: data, statistics and tables. */
  readonly trueBytes: number;
  /** Linear weight data (packed codes for 4-bit). */
  readonly linearDataBytes: number;
  /** Statistics and tables of the linear weights (absmax, nested absmax, quant maps, int8 row scales). */
  readonly linearStatsBytes: number;
  /** Unquantized parameters (embeddings, lm_head, norms, biases). */
  readonly restBytes: number;
  /** True bits per linear-weight parameter, statistics included. */
  readonly linearBitsPerParam: number;
  /** Bits per linear-weight parameter as get_memory_footprint sees them. */
  readonly linearFootprintBitsPerParam: number;
}

interface Resolved {
  arch: Architecture;
  params: ParameterCount;
  loraR: number;
  targets: string[];
  blocksize: number;
  restDtype: RestDtype;
}

function resolve(configJson: unknown, options: MemoryOptions): Resolved {
  const arch = describeArchitecture(configJson, options.source);
  const loraR = options.loraR ?? DEFAULT_LORA_R;
  if (!Number.isSafeInteger(loraR) || loraR <= 0) throw new ConfigError('memory option loraR', 'a positive integer below 2^53', String(loraR));
  const restDtype = options.restDtype ?? 'bf16';
  if (!(restDtype in REST_BYTES)) throw new ConfigError('memory option restDtype', 'fp32, bf16 or fp16', String(restDtype));
  return {
    arch,
    params: countFromArchitecture(arch),
    loraR,
    targets: resolveTargetModules(arch, options.targetModules ?? DEFAULT_TARGET_MODULES),
    blocksize: checkBlocksize(options.blocksize ?? DEFAULT_BLOCKSIZE),
    restDtype,
  };
}

function weightRows(r: Resolved): WeightMemory[] {
  const { arch, params, blocksize, restDtype } = r;
  const rest = params.rest * REST_BYTES[restDtype];
  const tensors = arch.linears;
  const L = arch.numLayers;
  const row = (format: WeightFormat, description: string, data: number, stats: number, restBytes: number): WeightMemory => ({
    format,
    description,
    footprintBytes: data + restBytes,
    trueBytes: data + stats + restBytes,
    linearDataBytes: data,
    linearStatsBytes: stats,
    restBytes,
    linearBitsPerParam: ((data + stats) * 8) / params.linear,
    linearFootprintBitsPerParam: (data * 8) / params.linear,
  });
  const fourBit = (doubleQuant: boolean) => {
    let data = 0;
    let stats = 0;
    for (const m of tensors) {
      const t = fourBitTensorBytes(m.inFeatures * m.outFeatures, blocksize, doubleQuant);
      data += t.packed * L;
      stats += (t.total - t.packed) * L;
    }
    return { data, stats };
  };
  const int8Scales = tensors.reduce((s, m) => s + 4 * m.outFeatures, 0) * L; // LLM.int8(): one f32 scale (SCB) per output row
  const nf4 = fourBit(false);
  const nf4dq = fourBit(true);
  return [
    row('fp32', 'all parameters in fp32', params.linear * 4, 0, params.rest * 4),
    row('bf16', 'all parameters in bf16', params.linear * 2, 0, params.rest * 2),
    row('int8', `linear weights int8 + f32 scale per row (LLM.int8()), rest ${restDtype}`, params.linear, int8Scales, rest),
    row('nf4', `linear weights NF4, f32 absmax per ${blocksize}, rest ${restDtype}`, nf4.data, nf4.stats, rest),
    row(
      'nf4+dq',
      `linear weights NF4, u8 absmax per ${blocksize} + f32 per ${blocksize * NESTED_BLOCKSIZE}, rest ${restDtype}`,
      nf4dq.data,
      nf4dq.stats,
      rest,
    ),
  ];
}

/** Weight memory of a model in fp32, bf16, int8, NF4 and NF4 + double quantization. */
export function weightMemory(configJson: unknown, options: MemoryOptions = {}): WeightMemory[] {
  return weightRows(resolve(configJson, options));
}

/** Names of the fused modules of Phi-3 for the unfused names people usually pass. */
const FUSED_NAME: Record<string, string> = {
  q_proj: 'qkv_proj',
  k_proj: 'qkv_proj',
  v_proj: 'qkv_proj',
  gate_proj: 'gate_up_proj',
  up_proj: 'gate_up_proj',
};

/**
 * The module names of one decoder block that get an adapter. `all-linear` selects every `*_proj`;
 * on a fused layout (Phi-3) q_proj/k_proj/v_proj map to qkv_proj and gate_proj/up_proj to gate_up_proj.
 */
export function resolveTargetModules(arch: Architecture, targets: readonly string[] | 'all-linear'): string[] {
  const available = arch.linears.map((m) => m.name);
  if (targets === 'all-linear') return available;
  if (targets.length === 0) throw new ConfigError('LoRA target modules', `at least one of ${available.join(', ')} or all-linear`, 'an empty list');
  const out = new Set<string>();
  for (const raw of targets) {
    const name = raw.trim();
    if (name === 'all-linear') return available;
    const mapped = available.includes(name) ? name : FUSED_NAME[name];
    if (!mapped || !available.includes(mapped)) {
      throw new ConfigError(`LoRA target module "${name}"`, `one of ${available.join(', ')} or all-linear (${arch.modelType} layout)`, JSON.stringify(name));
    }
    out.add(mapped);
  }
  return available.filter((n) => out.has(n));
}

/** Trainable parameters of LoRA adapters of rank R on the given modules: R * (in + out) per module per layer. */
export function loraTrainableParameters(configJson: unknown, options: MemoryOptions = {}): number {
  return loraParams(resolve(configJson, options));
}

function loraParams(r: Resolved): number {
  let perLayer = 0;
  for (const m of r.arch.linears) if (r.targets.includes(m.name)) perLayer += r.loraR * (m.inFeatures + m.outFeatures);
  return perLayer * r.arch.numLayers;
}

/** A training-memory estimate: the parts that scale with parameters (activations excluded). */
export interface TrainingMemory {
  readonly name: 'full-fp32' | 'full-mixed-bf16' | 'lora' | 'qlora';
  readonly description: string;
  /** Parameters that receive gradients. */
  readonly trainableParameters: number;
  /** Model weights (frozen base + adapters, or all weights), statistics included. */
  readonly weightBytes: number;
  readonly gradientBytes: number;
  /** AdamW's two moments, plus the fp32 master weights in mixed precision. */
  readonly optimizerBytes: number;
  readonly totalBytes: number;
  /** What is assumed, in words. */
  readonly assumptions: string;
}

function trainingRows(r: Resolved, weights: WeightMemory[]): TrainingMemory[] {
  const P = r.params.total;
  const lora = loraParams(r);
  const rest = REST_BYTES[r.restDtype];
  const nf4dq = weights.find((w) => w.format === 'nf4+dq')!;
  const row = (
    name: TrainingMemory['name'],
    description: string,
    trainableParameters: number,
    weightBytes: number,
    gradientBytes: number,
    optimizerBytes: number,
    assumptions: string,
  ): TrainingMemory => ({
    name,
    description,
    trainableParameters,
    weightBytes,
    gradientBytes,
    optimizerBytes,
    totalBytes: weightBytes + gradientBytes + optimizerBytes,
    assumptions,
  });
  const targets = r.targets.join(',');
  return [
    row(
      'full-fp32',
      'full fine-tuning, fp32',
      P,
      4 * P,
      4 * P,
      8 * P,
      'fp32 weights (4 B) + fp32 gradients (4 B) + AdamW m and v in fp32 (8 B) = 16 B/param',
    ),
    row(
      'full-mixed-bf16',
      'full fine-tuning, mixed bf16',
      P,
      2 * P,
      2 * P,
      12 * P,
      'bf16 weights (2 B) + bf16 gradients (2 B) + fp32 master weights (4 B) + AdamW m and v in fp32 (8 B) = 16 B/param; the saving of bf16 is in activations, not counted',
    ),
    row(
      'lora',
      `LoRA r=${r.loraR}`,
      lora,
      rest * P + 4 * lora,
      4 * lora,
      8 * lora,
      `adapters on ${targets} in every block; frozen base in ${r.restDtype} (${rest} B/param, no gradients or states); adapters A and B in fp32: weights 4 B + gradients 4 B + AdamW m and v 8 B = 16 B per trainable param`,
    ),
    row(
      'qlora',
      `QLoRA r=${r.loraR}`,
      lora,
      nf4dq.trueBytes + 4 * lora,
      4 * lora,
      8 * lora,
      `frozen base: linear weights NF4 + double quant (bs ${r.blocksize}, statistics included), rest in ${r.restDtype}; adapters as for LoRA (16 B per trainable param)`,
    ),
  ];
}

/** Everything `kvant memory` prints. */
export interface MemoryReport {
  readonly modelType: string;
  readonly parameters: ParameterCount;
  readonly options: { loraR: number; targetModules: string[]; blocksize: number; restDtype: RestDtype };
  readonly weights: WeightMemory[];
  readonly training: TrainingMemory[];
  /** Asymptotic bits per parameter of the 4-bit formats at this blocksize (per-tensor tables excluded). */
  readonly bitsPerParam: { nf4: number; nf4dq: number };
  readonly notes: string[];
}

/** The full memory table for a config: parameters, weight bytes per format, training estimates. */
export function memoryReport(configJson: unknown, options: MemoryOptions = {}): MemoryReport {
  const r = resolve(configJson, options);
  const weights = weightRows(r);
  const training = trainingRows(r, weights);
  for (const t of training) {
    if (!Number.isSafeInteger(t.totalBytes)) {
      throw new ConfigError(`memory of ${t.description}`, 'a size below 2^53 bytes (check the LoRA rank and the config sizes)', `${t.totalBytes} bytes`);
    }
  }
  return {
    modelType: r.arch.modelType,
    parameters: r.params,
    options: { loraR: r.loraR, targetModules: r.targets, blocksize: r.blocksize, restDtype: r.restDtype },
    weights,
    training,
    bitsPerParam: { nf4: fourBitBitsPerParam(r.blocksize, false), nf4dq: fourBitBitsPerParam(r.blocksize, true) },
    notes: [
      'get_memory_footprint counts parameters and buffers only: packed 4-bit weights, not absmax or quant maps (the true column includes them).',
      'Activations, the KV cache, CUDA context and allocator overhead are not counted.',
      'Tied embeddings are counted once. 1 GB = 1e9 bytes.',
    ],
  };
}
