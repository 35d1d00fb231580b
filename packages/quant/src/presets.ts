/**
 * A few model configs embedded so that `kvant memory phi-3-mini` works offline. Each is the
 * public `config.json` of the Hugging Face model, cut to the fields that shape the parameter
 * count (plus model_type and torch_dtype for the reader).
 */

/** An embedded model config. */
export interface ModelPreset {
  /** The preset name, e.g. `phi-3-mini-4k-instruct`. */
  readonly name: string;
  /** Shorter names that also select it. */
  readonly aliases: readonly string[];
  /** The Hugging Face repository the config comes from. */
  readonly huggingFaceId: string;
  /** The fields of its config.json. */
  readonly config: Readonly<Record<string, unknown>>;
}

export const MODEL_PRESETS: readonly ModelPreset[] = [
  {
    name: 'phi-3-mini-4k-instruct',
    aliases: ['phi-3-mini', 'phi3-mini'],
    huggingFaceId: 'microsoft/Phi-3-mini-4k-instruct',
    config: {
      architectures: ['Phi3ForCausalLM'],
      model_type: 'phi3',
      hidden_size: 3072,
      intermediate_size: 8192,
      num_hidden_layers: 32,
      num_attention_heads: 32,
      num_key_value_heads: 32,
      vocab_size: 32064,
      max_position_embeddings: 4096,
      attention_bias: false,
      tie_word_embeddings: false,
      rms_norm_eps: 1e-5,
      torch_dtype: 'bfloat16',
    },
  },
  {
    name: 'llama-3.1-8b',
    aliases: ['llama-3.1-8b-instruct', 'llama3.1-8b'],
    huggingFaceId: 'meta-llama/Llama-3.1-8B',
    config: {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_size: 4096,
      intermediate_size: 14336,
      num_hidden_layers: 32,
      num_attention_heads: 32,
      num_key_value_heads: 8,
      vocab_size: 128256,
      max_position_embeddings: 131072,
      attention_bias: false,
      mlp_bias: false,
      tie_word_embeddings: false,
      rms_norm_eps: 1e-5,
      torch_dtype: 'bfloat16',
    },
  },
  {
    name: 'mistral-7b-v0.1',
    aliases: ['mistral-7b'],
    huggingFaceId: 'mistralai/Mistral-7B-v0.1',
    config: {
      architectures: ['MistralForCausalLM'],
      model_type: 'mistral',
      hidden_size: 4096,
      intermediate_size: 14336,
      num_hidden_layers: 32,
      num_attention_heads: 32,
      num_key_value_heads: 8,
      vocab_size: 32000,
      max_position_embeddings: 32768,
      sliding_window: 4096,
      tie_word_embeddings: false,
      rms_norm_eps: 1e-5,
      torch_dtype: 'bfloat16',
    },
  },
  {
    name: 'qwen2.5-0.5b',
    aliases: ['qwen2.5-0.5b-instruct'],
    huggingFaceId: 'Qwen/Qwen2.5-0.5B',
    config: {
      architectures: ['Qwen2ForCausalLM'],
      model_type: 'qwen2',
      hidden_size: 896,
      intermediate_size: 4864,
      num_hidden_layers: 24,
      num_attention_heads: 14,
      num_key_value_heads: 2,
      vocab_size: 151936,
      max_position_embeddings: 32768,
      tie_word_embeddings: true,
      rms_norm_eps: 1e-6,
      torch_dtype: 'bfloat16',
    },
  },
  {
    name: 'tinyllama-1.1b',
    aliases: ['tinyllama-1.1b-chat-v1.0', 'tinyllama'],
    huggingFaceId: 'TinyLlama/TinyLlama-1.1B-Chat-v1.0',
    config: {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_size: 2048,
      intermediate_size: 5632,
      num_hidden_layers: 22,
      num_attention_heads: 32,
      num_key_value_heads: 4,
      vocab_size: 32000,
      max_position_embeddings: 2048,
      attention_bias: false,
      tie_word_embeddings: false,
      rms_norm_eps: 1e-5,
      torch_dtype: 'bfloat16',
    },
  },
];

/** The preset with this name, alias or Hugging Face id (case-insensitive), or undefined. */
export function findPreset(name: string): ModelPreset | undefined {
  const key = name.trim().toLowerCase();
  return MODEL_PRESETS.find(
    (p) => p.name === key || p.aliases.includes(key) || p.huggingFaceId.toLowerCase() === key,
  );
}
