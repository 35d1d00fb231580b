/**
 * Hugging Face `config.json` for the Llama family of decoders (Llama, Mistral, Qwen2, Phi-3): a
 * typed, validated subset, and the tensors such a model has (names and shapes), which memory
 * accounting needs without reading any weights.
 *
 * Field names are those of config.json, so they read the same as in transformers.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelFileError } from './errors';
import { FileSystemError } from './fs-errors';
import { readRegularFile } from './regular-file';
import { isJsonObject, type JsonValue, parseStrictJson, StrictJsonError } from './strict-json';

/**
 * Decoder layouts kvant knows, by `model_type`. Phi-3 fuses q/k/v into `qkv_proj` and gate/up into
 * `gate_up_proj`; Qwen3 adds per-head q/k norms; Gemma2 adds two norms around the MLP.
 */
export type ModelLayout = 'llama' | 'mistral' | 'qwen2' | 'qwen3' | 'phi3' | 'gemma' | 'gemma2';

/**
 * What transformers' modeling code does for each layout (read from `modeling_<type>.py` and
 * `configuration_<type>.py`): which config flag (if any) switches each bias on, the default of
 * `tie_word_embeddings`, and the norms of a decoder block.
 */
export interface LayoutRule {
  /** qkv_proj and gate_up_proj instead of q/k/v and gate/up (Phi-3). */
  readonly fused: boolean;
  /** `tie_word_embeddings` when config.json does not say: the config class default. */
  readonly tiedByDefault: boolean;
  /** Bias of q/k/v: from `attention_bias`, always (Qwen2), or never. */
  readonly qkvBias: 'attention_bias' | 'always' | 'never';
  /** Bias of o_proj: from `attention_bias`, or never (Qwen2 has q/k/v biases but none on o_proj). */
  readonly oBias: 'attention_bias' | 'never';
  /** Bias of the MLP projections: from `mlp_bias` (Llama only), or never. */
  readonly mlpBias: 'mlp_bias' | 'never';
  /** RMSNorm weights [H] of a block, after `input_layernorm` and `post_attention_layernorm`. */
  readonly extraNorms: readonly string[];
  /** Per-head RMSNorm weights [head_dim] on q and k (`self_attn.q_norm`, `self_attn.k_norm`). */
  readonly qkNorm: boolean;
}

const plain = { fused: false, tiedByDefault: false, extraNorms: [], qkNorm: false } as const;

/** The rules of every layout kvant knows. */
export const LAYOUT_RULES: Readonly<Record<ModelLayout, LayoutRule>> = {
  llama: { ...plain, qkvBias: 'attention_bias', oBias: 'attention_bias', mlpBias: 'mlp_bias' },
  mistral: { ...plain, qkvBias: 'never', oBias: 'never', mlpBias: 'never' },
  qwen2: { ...plain, qkvBias: 'always', oBias: 'never', mlpBias: 'never' },
  qwen3: { ...plain, qkvBias: 'attention_bias', oBias: 'attention_bias', mlpBias: 'never', qkNorm: true },
  phi3: { ...plain, fused: true, qkvBias: 'never', oBias: 'never', mlpBias: 'never' },
  gemma: { ...plain, tiedByDefault: true, qkvBias: 'attention_bias', oBias: 'attention_bias', mlpBias: 'never' },
  gemma2: {
    ...plain,
    tiedByDefault: true,
    qkvBias: 'attention_bias',
    oBias: 'attention_bias',
    mlpBias: 'never',
    extraNorms: ['pre_feedforward_layernorm', 'post_feedforward_layernorm'],
  },
};

/** Model types (`model_type` values) kvant knows the layout of. */
export const MODEL_LAYOUTS: readonly ModelLayout[] = Object.keys(LAYOUT_RULES) as ModelLayout[];

/** The parts of config.json kvant uses, with transformers' defaults applied. */
export interface HfConfig {
  /** `model_type`: llama, mistral, qwen2, qwen3, phi3, gemma, gemma2, ... */
  readonly model_type: string;
  /** `architectures`, e.g. ["LlamaForCausalLM"] (empty when absent). */
  readonly architectures: readonly string[];
  /** Model width H. */
  readonly hidden_size: number;
  /** MLP width I. */
  readonly intermediate_size: number;
  /** Number of decoder blocks L. */
  readonly num_hidden_layers: number;
  /** Query heads. */
  readonly num_attention_heads: number;
  /** Key/value heads (grouped-query attention); defaults to num_attention_heads. */
  readonly num_key_value_heads: number;
  /** Per-head width; defaults to hidden_size / num_attention_heads. */
  readonly head_dim: number;
  /** Vocabulary size V (rows of the embedding and of lm_head). */
  readonly vocab_size: number;
  /** lm_head shares the embedding's weight (default: the layout's config class default, LAYOUT_RULES). */
  readonly tie_word_embeddings: boolean;
  /** Stored weight dtype, e.g. "bfloat16" (`torch_dtype`, or `dtype` in newer transformers). */
  readonly torch_dtype?: string;
  readonly rms_norm_eps?: number;
  readonly rope_theta?: number;
  readonly max_position_embeddings?: number;
  readonly hidden_act?: string;
  /** `attention_bias` as written (default false); which projections it affects is the layout's rule. */
  readonly attention_bias: boolean;
  /** `mlp_bias` as written (default false); only Llama's MLP reads it. */
  readonly mlp_bias: boolean;
  readonly bos_token_id?: number | readonly number[];
  readonly eos_token_id?: number | readonly number[];
  /** `quantization_config`, as read (present in quantized models). */
  readonly quantization_config?: Readonly<Record<string, JsonValue>>;
  /** True when config.json has a `quantization_config` key, even one whose value is null. */
  readonly has_quantization_config: boolean;
  /** Layout derived from model_type, or undefined when kvant does not know it. */
  readonly layout: ModelLayout | undefined;
  /** The whole JSON object, for fields not typed here. */
  readonly raw: Readonly<Record<string, JsonValue>>;
}

/** Parse a config.json object (already JSON); `path` names it in errors. */
export function parseHfConfig(json: JsonValue, path: string): HfConfig {
  if (!isJsonObject(json)) throw new ModelFileError(path, 'a JSON object', Array.isArray(json) ? 'an array' : String(json));
  const positive = (key: string): number => {
    const v = json[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      throw new ModelFileError(path, `"${key}" to be a positive integer`, v === undefined ? 'no such field' : JSON.stringify(v));
    }
    return v;
  };
  const optional = <T extends JsonValue>(key: string, type: 'number' | 'string' | 'boolean'): T | undefined => {
    const v = json[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== type) throw new ModelFileError(path, `"${key}" to be a ${type}`, JSON.stringify(v));
    return v as T;
  };
  const tokenIds = (key: string): number | number[] | undefined => {
    const v = json[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'number' || (Array.isArray(v) && v.every((x) => typeof x === 'number'))) return v as number | number[];
    throw new ModelFileError(path, `"${key}" to be a token id or a list of ids`, JSON.stringify(v));
  };
  const modelType = optional<string>('model_type', 'string');
  if (modelType === undefined) throw new ModelFileError(path, '"model_type" (e.g. "llama")', 'no such field');
  const architectures = json.architectures;
  if (architectures !== undefined && architectures !== null && !(Array.isArray(architectures) && architectures.every((a) => typeof a === 'string'))) {
    throw new ModelFileError(path, '"architectures" to be a list of strings', JSON.stringify(architectures));
  }
  const hidden = positive('hidden_size');
  const heads = positive('num_attention_heads');
  const kvHeads = json.num_key_value_heads == null ? heads : positive('num_key_value_heads');
  if (heads % kvHeads !== 0) {
    throw new ModelFileError(path, `num_attention_heads (${heads}) to be a multiple of num_key_value_heads`, String(kvHeads));
  }
  let headDim: number;
  if (json.head_dim == null) {
    if (hidden % heads !== 0) throw new ModelFileError(path, `hidden_size (${hidden}) divisible by num_attention_heads, or a "head_dim"`, `${heads} heads`);
    headDim = hidden / heads;
  } else headDim = positive('head_dim');
  const quant = json.quantization_config;
  if (quant !== undefined && quant !== null && !isJsonObject(quant)) throw new ModelFileError(path, '"quantization_config" to be an object', JSON.stringify(quant));
  const layout = Object.hasOwn(LAYOUT_RULES, modelType) ? (modelType as ModelLayout) : undefined;
  return {
    model_type: modelType,
    architectures: (architectures as string[] | undefined | null) ?? [],
    hidden_size: hidden,
    intermediate_size: positive('intermediate_size'),
    num_hidden_layers: positive('num_hidden_layers'),
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: headDim,
    vocab_size: positive('vocab_size'),
    tie_word_embeddings: optional<boolean>('tie_word_embeddings', 'boolean') ?? (layout ? LAYOUT_RULES[layout].tiedByDefault : false),
    torch_dtype: optional<string>('torch_dtype', 'string') ?? optional<string>('dtype', 'string'),
    rms_norm_eps: optional<number>('rms_norm_eps', 'number'),
    rope_theta: optional<number>('rope_theta', 'number'),
    max_position_embeddings: optional<number>('max_position_embeddings', 'number'),
    hidden_act: optional<string>('hidden_act', 'string'),
    attention_bias: optional<boolean>('attention_bias', 'boolean') ?? false,
    mlp_bias: optional<boolean>('mlp_bias', 'boolean') ?? false,
    bos_token_id: tokenIds('bos_token_id'),
    eos_token_id: tokenIds('eos_token_id'),
    quantization_config: quant ? { ...(quant as Record<string, JsonValue>) } : undefined,
    has_quantization_config: Object.hasOwn(json, 'quantization_config'),
    layout,
    raw: { ...json },
  };
}

/** Read and parse a JSON file strictly (duplicate keys refused; regular files only), with typed errors naming the path. */
export async function readJsonFile(path: string): Promise<JsonValue> {
  let text: string;
  try {
    text = (await readRegularFile(path, 'a readable JSON file')).toString('utf8');
  } catch (e) {
    if (e instanceof FileSystemError) throw new ModelFileError(path, e.expected, e.found);
    throw e;
  }
  try {
    return parseStrictJson(text);
  } catch (e) {
    if (e instanceof StrictJsonError) throw new ModelFileError(path, 'valid JSON with each key once', e.message);
    throw e;
  }
}

/**
 * Read `config.json` from a model folder, or from a path to the file itself. A path ending in
 * `.json` is always the file (a folder named config.json is reported as a folder, not searched).
 */
export async function readHfConfig(folderOrFile: string): Promise<HfConfig> {
  const isDir =
    !folderOrFile.endsWith('.json') &&
    (await stat(folderOrFile).then(
      (s) => s.isDirectory(),
      () => false,
    ));
  const path = isDir ? join(folderOrFile, 'config.json') : folderOrFile;
  return parseHfConfig(await readJsonFile(path), path);
}

/** The role of a tensor of a decoder, for memory accounting and quantization. */
export type TensorRole = 'embedding' | 'linear' | 'bias' | 'norm' | 'lm_head';

/** A tensor a model of some config has. */
export interface ExpectedTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly role: TensorRole;
}

function requireLayout(config: HfConfig, where: string): ModelLayout {
  if (config.layout === undefined) {
    throw new ModelFileError(where, `model_type in ${MODEL_LAYOUTS.join(', ')}`, JSON.stringify(config.model_type));
  }
  return config.layout;
}

/**
 * The tensors of a model with this config, named as in its Hugging Face checkpoint, in the order
 * transformers' state_dict lists them. Linear weights are [out_features, in_features].
 */
export function expectedTensors(config: HfConfig): ExpectedTensor[] {
  const layout = requireLayout(config, 'config.json');
  const H = config.hidden_size;
  const I = config.intermediate_size;
  const q = config.num_attention_heads * config.head_dim;
  const kv = config.num_key_value_heads * config.head_dim;
  const out: ExpectedTensor[] = [{ name: 'model.embed_tokens.weight', shape: [config.vocab_size, H], role: 'embedding' }];
  const linear = (name: string, n: number, k: number, bias: boolean) => {
    out.push({ name: `${name}.weight`, shape: [n, k], role: 'linear' });
    if (bias) out.push({ name: `${name}.bias`, shape: [n], role: 'bias' });
  };
  const rule = LAYOUT_RULES[layout];
  const qkvBias = rule.qkvBias === 'always' || (rule.qkvBias === 'attention_bias' && config.attention_bias);
  const oBias = rule.oBias === 'attention_bias' && config.attention_bias;
  const mlpBias = rule.mlpBias === 'mlp_bias' && config.mlp_bias;
  for (let l = 0; l < config.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    if (rule.fused) {
      linear(`${p}.self_attn.qkv_proj`, q + 2 * kv, H, qkvBias);
    } else {
      linear(`${p}.self_attn.q_proj`, q, H, qkvBias);
      linear(`${p}.self_attn.k_proj`, kv, H, qkvBias);
      linear(`${p}.self_attn.v_proj`, kv, H, qkvBias);
    }
    linear(`${p}.self_attn.o_proj`, H, q, oBias);
    if (rule.qkNorm) {
      out.push({ name: `${p}.self_attn.q_norm.weight`, shape: [config.head_dim], role: 'norm' });
      out.push({ name: `${p}.self_attn.k_norm.weight`, shape: [config.head_dim], role: 'norm' });
    }
    if (rule.fused) {
      linear(`${p}.mlp.gate_up_proj`, 2 * I, H, mlpBias);
    } else {
      linear(`${p}.mlp.gate_proj`, I, H, mlpBias);
      linear(`${p}.mlp.up_proj`, I, H, mlpBias);
    }
    linear(`${p}.mlp.down_proj`, H, I, mlpBias);
    for (const norm of ['input_layernorm', 'post_attention_layernorm', ...rule.extraNorms]) out.push({ name: `${p}.${norm}.weight`, shape: [H], role: 'norm' });
  }
  out.push({ name: 'model.norm.weight', shape: [H], role: 'norm' });
  if (!config.tie_word_embeddings) out.push({ name: 'lm_head.weight', shape: [config.vocab_size, H], role: 'lm_head' });
  return out;
}

/** Number of parameters of a model with this config (tied embeddings counted once). */
export function parameterCount(config: HfConfig): number {
  return expectedTensors(config).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
}

/** True for the linear weights of the decoder blocks (`model.layers.N.…_proj.weight`): what 4-bit quantization replaces. */
export function isDecoderLinearWeight(name: string): boolean {
  return /^model\.layers\.\d+\..+_proj\.weight$/.test(name);
}

/** One slice of a fused projection: rows [start, start + rows) of the weight. */
export interface FusedPart {
  readonly name: string;
  readonly start: number;
  readonly rows: number;
}

/**
 * How Phi-3's fused projections split into their parts, by rows of the [N, K] weight:
 * `qkv_proj` = [q; k; v], `gate_up_proj` = [gate; up]. Undefined for a name that is not fused.
 */
export function fusedParts(config: HfConfig, name: string): FusedPart[] | undefined {
  const q = config.num_attention_heads * config.head_dim;
  const kv = config.num_key_value_heads * config.head_dim;
  const I = config.intermediate_size;
  if (/\.qkv_proj\.weight$/.test(name)) {
    return [
      { name: 'q_proj', start: 0, rows: q },
      { name: 'k_proj', start: q, rows: kv },
      { name: 'v_proj', start: q + kv, rows: kv },
    ];
  }
  if (/\.gate_up_proj\.weight$/.test(name)) {
    return [
      { name: 'gate_proj', start: 0, rows: I },
      { name: 'up_proj', start: I, rows: I },
    ];
  }
  return undefined;
}
