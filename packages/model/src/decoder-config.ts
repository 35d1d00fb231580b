/**
 * The decoder's own view of a Hugging Face `config.json` (read by @kvant/formats' one reader,
 * `parseHfConfig`): the dimensions of every buffer, the norm epsilon, the rotary embedding, the
 * sliding window of each layer and the biases — everything `forward` needs, checked once. Anything
 * the kernels cannot compute exactly as transformers does is refused here, naming the config field.
 *
 * Glossary (as in @kvant/abi's nn kernels): B batch, T tokens, C model width (hidden_size), H query
 * heads, Hkv key/value heads, D head dim, Q = H·D, KV = Hkv·D, I intermediate width, V vocab, L layers.
 */
import { type HfConfig, LAYOUT_RULES, type ModelLayout } from '@kvant/formats';
import { ModelFileError } from '@kvant/formats';

/** Layouts the decoder runs (formats knows more: qwen3 and gemma need kernels or ops it does not have yet). */
export const DECODER_LAYOUTS = ['llama', 'mistral', 'qwen2', 'phi3'] as const;
export type DecoderLayout = (typeof DECODER_LAYOUTS)[number];

/** transformers' rope types whose effect is only on inv_freq (what @kvant/reference's ropeInvFreq computes). */
export type DecoderRopeScaling =
  | { readonly rope_type: 'default' }
  | { readonly rope_type: 'linear'; readonly factor: number }
  | { readonly rope_type: 'llama3'; readonly factor: number; readonly low_freq_factor: number; readonly high_freq_factor: number; readonly original_max_position_embeddings: number };

export interface DecoderConfig {
  readonly layout: DecoderLayout;
  /** model_type as written. */
  readonly modelType: string;
  /** C. */
  readonly hidden: number;
  /** I. */
  readonly intermediate: number;
  /** L. */
  readonly layers: number;
  /** H. */
  readonly heads: number;
  /** Hkv. */
  readonly kvHeads: number;
  /** D. */
  readonly headDim: number;
  /** V. */
  readonly vocab: number;
  /** rms_norm_eps. */
  readonly eps: number;
  /** rope_theta. */
  readonly ropeTheta: number;
  readonly ropeScaling: DecoderRopeScaling;
  /** max_position_embeddings (rope tables are computed up to what a batch needs, not this). */
  readonly maxPositions: number | undefined;
  /** Sliding window of each layer's attention (0: none), as transformers' mask for that layer. */
  readonly windows: readonly number[];
  /** Phi-3: qkv_proj and gate_up_proj. */
  readonly fused: boolean;
  readonly qkvBias: boolean;
  readonly oBias: boolean;
  readonly mlpBias: boolean;
  readonly tied: boolean;
  /** eos_token_id as a list (generation stops on any). */
  readonly eosTokenIds: readonly number[];
  readonly bosTokenId: number | undefined;
}

/** Default rms_norm_eps of each config class, when config.json does not say (save_pretrained always writes it). */
const DEFAULT_EPS: Readonly<Record<DecoderLayout, number>> = { llama: 1e-6, mistral: 1e-6, qwen2: 1e-6, phi3: 1e-5 };

type Raw = Readonly<Record<string, unknown>>;

/** Build the decoder's config from a parsed config.json; `path` names the file in errors. */
export function decoderConfig(c: HfConfig, path = 'config.json'): DecoderConfig {
  const field = (name: string, expected: string, found: unknown): never => {
    throw new ModelFileError(`${path}: "${name}"`, expected, found === undefined ? 'no such field' : JSON.stringify(found));
  };
  if (!(DECODER_LAYOUTS as readonly string[]).includes(c.model_type)) {
    field('model_type', `one of ${DECODER_LAYOUTS.join(', ')} (the decoder architectures kvant runs)`, c.model_type);
  }
  const layout = c.model_type as DecoderLayout;
  const rule = LAYOUT_RULES[layout as ModelLayout];
  const raw = c.raw as Raw;
  if (c.hidden_act !== undefined && c.hidden_act !== 'silu') field('hidden_act', '"silu" (SwiGLU is the only MLP kvant has)', c.hidden_act);
  if (c.head_dim % 2 !== 0) field('head_dim', 'an even head dim (rotary embeddings rotate pairs)', c.head_dim);
  if (c.head_dim > 256) field('head_dim', 'at most 256 (nn.attention keeps a row in registers)', c.head_dim);

  // Rotary embedding: transformers 5 writes rope_parameters {rope_theta, rope_type, ...}; older ones rope_theta + rope_scaling.
  const params = (raw.rope_parameters ?? raw.rope_scaling ?? null) as Raw | null;
  if (params !== null && (typeof params !== 'object' || Array.isArray(params))) field('rope_parameters', 'an object', params);
  const theta = (params?.rope_theta ?? raw.rope_theta ?? 10000) as unknown;
  if (typeof theta !== 'number' || !(theta > 0)) field('rope_theta', 'a positive number', theta);
  const ropeType = (params?.rope_type ?? params?.type ?? 'default') as unknown;
  const num = (name: string): number => {
    const v = params?.[name];
    if (typeof v !== 'number' || !Number.isFinite(v)) field(`rope_parameters.${name}`, 'a finite number', v);
    return v as number;
  };
  let ropeScaling: DecoderRopeScaling;
  if (ropeType === 'default') ropeScaling = { rope_type: 'default' };
  else if (ropeType === 'linear') ropeScaling = { rope_type: 'linear', factor: num('factor') };
  else if (ropeType === 'llama3') {
    ropeScaling = {
      rope_type: 'llama3',
      factor: num('factor'),
      low_freq_factor: num('low_freq_factor'),
      high_freq_factor: num('high_freq_factor'),
      original_max_position_embeddings: num('original_max_position_embeddings'),
    };
  } else ropeScaling = field('rope_parameters.rope_type', 'default, linear or llama3 (types that only change inv_freq)', ropeType);
  const partial = (params?.partial_rotary_factor ?? raw.partial_rotary_factor ?? 1) as unknown;
  if (partial !== 1) field('partial_rotary_factor', '1 (nn.rope rotates the whole head)', partial);

  // Sliding window per layer, as each modeling file builds its masks.
  const sliding = raw.sliding_window;
  let windows: number[] = new Array(c.num_hidden_layers).fill(0);
  const windowOf = (): number => {
    if (typeof sliding !== 'number' || !Number.isInteger(sliding) || sliding < 1) field('sliding_window', 'a positive integer or null', sliding);
    return sliding as number;
  };
  if (layout === 'mistral' || layout === 'phi3') {
    if (sliding !== undefined && sliding !== null) windows = windows.map(windowOf);
  } else if (layout === 'qwen2') {
    const types = raw.layer_types;
    const useSliding = raw.use_sliding_window === true;
    if (Array.isArray(types)) {
      if (types.length !== c.num_hidden_layers) field('layer_types', `${c.num_hidden_layers} entries (num_hidden_layers)`, types);
      windows = types.map((t, i) => {
        if (t === 'full_attention') return 0;
        if (t === 'sliding_attention') return useSliding ? windowOf() : 0;
        return field(`layer_types[${i}]`, '"full_attention" or "sliding_attention"', t);
      });
    } else if (useSliding && sliding !== null && sliding !== undefined) {
      const from = typeof raw.max_window_layers === 'number' ? raw.max_window_layers : 28;
      windows = windows.map((_, i) => (i >= from ? windowOf() : 0));
    }
  } else if (layout === 'llama' && sliding !== undefined && sliding !== null) {
    field('sliding_window', 'null for llama (LlamaAttention has no sliding window)', sliding);
  }

  const eps = c.rms_norm_eps ?? DEFAULT_EPS[layout];
  if (!(eps > 0)) field('rms_norm_eps', 'a positive number', eps);
  const ids = (v: number | readonly number[] | undefined) => (v === undefined ? [] : typeof v === 'number' ? [v] : [...v]);
  const bos = ids(c.bos_token_id);
  return {
    layout,
    modelType: c.model_type,
    hidden: c.hidden_size,
    intermediate: c.intermediate_size,
    layers: c.num_hidden_layers,
    heads: c.num_attention_heads,
    kvHeads: c.num_key_value_heads,
    headDim: c.head_dim,
    vocab: c.vocab_size,
    eps,
    ropeTheta: theta as number,
    ropeScaling,
    maxPositions: c.max_position_embeddings,
    windows,
    fused: rule.fused,
    qkvBias: rule.qkvBias === 'always' || (rule.qkvBias === 'attention_bias' && c.attention_bias),
    oBias: rule.oBias === 'attention_bias' && c.attention_bias,
    mlpBias: rule.mlpBias === 'mlp_bias' && c.mlp_bias,
    tied: c.tie_word_embeddings,
    eosTokenIds: ids(c.eos_token_id),
    bosTokenId: bos[0],
  };
}

/** Q = H·D, the width of the query projection. */
export const qWidth = (c: DecoderConfig) => c.heads * c.headDim;
/** KV = Hkv·D, the width of each of the key and value projections. */
export const kvWidth = (c: DecoderConfig) => c.kvHeads * c.headDim;
