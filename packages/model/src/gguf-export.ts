/**
 * A decoder as GGUF for llama.cpp and Ollama: the merged model (f32, f16 or q8_0), or the LoRA adapter
 * alone (llama.cpp's `--lora`, Ollama's ADAPTER). kvant's mapping of what llama.cpp's converters
 * (convert_hf_to_gguf.py, convert_lora_to_gguf.py) write, for the architectures it implements:
 *
 *   HF tensor                                   GGUF tensor            note
 *   model.embed_tokens.weight                   token_embd.weight
 *   model.layers.N.input_layernorm.weight       blk.N.attn_norm.weight
 *   model.layers.N.self_attn.{q,k,v,o}_proj     blk.N.attn_{q,k,v,output}   q, k rows permuted (llama)
 *   model.layers.N.post_attention_layernorm     blk.N.ffn_norm.weight
 *   model.layers.N.mlp.{gate,up,down}_proj      blk.N.ffn_{gate,up,down}
 *   model.norm.weight                           output_norm.weight
 *   lm_head.weight                              output.weight          absent when tied (llama.cpp reuses token_embd)
 *
 * The permutation: transformers' Llama rotates the two halves of each head (x_i with x_{i+D/2});
 * llama.cpp's llama architecture rotates adjacent pairs (x_{2i} with x_{2i+1}). So the rows of q_proj
 * (per query head) and k_proj (per kv head) are reordered: within a head of D rows, new row 2i + j is
 * old row j·D/2 + i (j ∈ {0, 1}, i < D/2) — the converter's reshape(heads, 2, D/2, ·).swapaxes(1, 2).
 * Qwen2 is rotate-half in llama.cpp too and is not permuted. For an adapter only B (the output side)
 * is permuted; A is unchanged.
 *
 * Tokenizer: byte-level BPE only (tokenizer.ggml.model "gpt2"), with the pre-tokenizer named by its
 * regex (GPT-2's → "gpt-2", Llama 3's → "llama-bpe", Qwen2's → "qwen2"); anything else is refused, as
 * is an architecture without a mapping here — before any file is written.
 */
import { basename, resolve } from 'node:path';
import { ConfigError, downloadF32, type Tensor } from '@kvant/abi';
import { type GgmlType, type GgufTensor, type GgufValue, ggufValue, isJsonObject, type JsonValue, readJsonFile, writeGguf } from '@kvant/formats';
import { type BaseWeight, denseCopy } from '@kvant/lora';
import { type ChatTemplate, loadChatTemplates } from './chat-template';
import type { Decoder } from './decoder';
import type { DecoderConfig } from './decoder-config';
import { linearModules, otherParameters } from './decoder-weights';
import { mergedDenseWeights } from './merge-model';
import { Tokenizer } from './tokenizer';

/** Storage of the exported weights. */
export type GgufExportType = 'f32' | 'f16' | 'q8_0';

/** llama.cpp's architecture for a decoder, and whether q/k rows are permuted. */
export interface GgufArchitecture {
  readonly arch: 'llama' | 'qwen2';
  readonly permuteQk: boolean;
  /** What the user should know (e.g. a sliding window llama.cpp's llama architecture ignores). */
  readonly notes: readonly string[];
}

/** The mapping for `config`, or a ConfigError saying that llama.cpp's mapping is not implemented for it. */
export function ggufArchitecture(config: DecoderConfig, where = 'config.json'): GgufArchitecture {
  const notes: string[] = [];
  if (config.layout === 'llama' || config.layout === 'mistral') {
    if (config.oBias || config.mlpBias) throw new ConfigError(`${where}: attention_bias / mlp_bias`, 'no o_proj or MLP biases (kvant maps the q/k/v biases of llama only)', 'biases');
    const window = Math.max(...config.windows);
    if (window > 0) notes.push(`sliding_window ${window}: llama.cpp's llama architecture attends to the whole context, so outputs differ from transformers beyond ${window} tokens`);
    return { arch: 'llama', permuteQk: true, notes };
  }
  if (config.layout === 'qwen2') {
    if (config.windows.some((w) => w > 0)) notes.push("sliding windows: llama.cpp's qwen2 architecture attends to the whole context");
    return { arch: 'qwen2', permuteQk: false, notes };
  }
  throw new ConfigError(`${where}: model_type`, "llama, mistral or qwen2 (kvant implements llama.cpp's GGUF mapping for these only)", `${JSON.stringify(config.modelType)}: llama.cpp's mapping is not implemented in kvant for it`);
}

const BLOCK_NAMES: Readonly<Record<string, string>> = {
  input_layernorm: 'attn_norm',
  'self_attn.q_proj': 'attn_q',
  'self_attn.k_proj': 'attn_k',
  'self_attn.v_proj': 'attn_v',
  'self_attn.o_proj': 'attn_output',
  post_attention_layernorm: 'ffn_norm',
  'mlp.gate_proj': 'ffn_gate',
  'mlp.up_proj': 'ffn_up',
  'mlp.down_proj': 'ffn_down',
};

/** llama.cpp's name for a Hugging Face tensor (model.layers.3.mlp.up_proj.weight → blk.3.ffn_up.weight). */
export function ggufTensorName(hfName: string): string {
  if (hfName === 'model.embed_tokens.weight') return 'token_embd.weight';
  if (hfName === 'model.norm.weight') return 'output_norm.weight';
  if (hfName === 'lm_head.weight') return 'output.weight';
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(hfName);
  const part = m ? BLOCK_NAMES[m[2]] : undefined;
  if (!m || !part) throw new ConfigError(`GGUF tensor name of ${JSON.stringify(hfName)}`, 'a tensor of the llama mapping (embed_tokens, layers.N.{norms, q/k/v/o, gate/up/down}, norm, lm_head)', 'no mapping');
  return `blk.${m[1]}.${part}.${m[3]}`;
}

/**
 * Reorder the rows of a q or k projection (rows = heads·D, `cols` per row; cols 1 for a bias) from
 * rotate-half to llama.cpp's adjacent pairs: in each head, new row 2i + j = old row j·D/2 + i.
 */
export function permuteRowsForRope(values: Float32Array, heads: number, cols: number): Float32Array {
  const rows = values.length / cols;
  if (!Number.isInteger(rows) || rows % heads !== 0 || (rows / heads) % 2 !== 0) {
    throw new ConfigError('permuteRowsForRope', `rows divisible by ${heads} heads into an even head dim`, `${values.length} values of ${cols} columns`);
  }
  const d = rows / heads;
  const half = d / 2;
  const out = new Float32Array(values.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const from = (h * d + j * half + i) * cols;
        out.set(values.subarray(from, from + cols), (h * d + 2 * i + j) * cols);
      }
    }
  }
  return out;
}

/** Heads to permute a tensor by (query heads for q, kv heads for k), or undefined. */
function permuteHeads(hfName: string, c: DecoderConfig, arch: GgufArchitecture): number | undefined {
  if (!arch.permuteQk) return undefined;
  if (/\.self_attn\.q_proj\.(weight|bias)$/.test(hfName)) return c.heads;
  if (/\.self_attn\.k_proj\.(weight|bias)$/.test(hfName)) return c.kvHeads;
  return undefined;
}

/** The ggml type of a tensor: 1-D tensors stay F32 (as the converter keeps them); Q8_0 needs rows of a multiple of 32 (else F16). */
function tensorType(shape: readonly number[], type: GgufExportType): GgmlType {
  if (shape.length === 1 || type === 'f32') return 'F32';
  if (type === 'q8_0' && shape[shape.length - 1] % 32 === 0) return 'Q8_0';
  return 'F16';
}

// ---------------------------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------------------------

/** Pre-tokenizer regexes llama.cpp knows by name (its names for them in tokenizer.ggml.pre). */
const KNOWN_SPLITS: Readonly<Record<string, string>> = {
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+": 'llama-bpe',
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+": 'qwen2',
};

/** llama.cpp's token types. */
export const GGUF_TOKEN_TYPES = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

/** What the tokenizer contributes to a GGUF file and to a Modelfile. */
export interface GgufTokenizer {
  readonly metadata: readonly (readonly [string, GgufValue])[];
  /** tokenizer.ggml.pre. */
  readonly pre: string;
  readonly chatTemplate: ChatTemplate | undefined;
  readonly tokenizer: Tokenizer;
  /** Contents of the EOS token(s), for stop parameters. */
  readonly eosTokens: readonly string[];
}

function preTokenizerName(pre: JsonValue | undefined, where: string): string {
  const refuse = (found: string): never => {
    throw new ConfigError(
      `${where}: pre_tokenizer`,
      "a byte-level BPE pre-tokenizer llama.cpp has a name for (ByteLevel with GPT-2's regex → gpt-2, or a Split with Llama 3's or Qwen2's regex followed by ByteLevel)",
      found,
    );
  };
  if (!isJsonObject(pre ?? undefined)) return refuse(JSON.stringify(pre ?? null));
  const p = pre as Record<string, JsonValue>;
  if (p.type === 'ByteLevel') return p.use_regex === false ? refuse('ByteLevel without a regex') : 'gpt-2';
  if (p.type === 'Sequence' && Array.isArray(p.pretokenizers)) {
    const parts = p.pretokenizers as Record<string, JsonValue>[];
    const byteLevel = parts.findIndex((x) => isJsonObject(x) && x.type === 'ByteLevel');
    const splits = parts.filter((x) => isJsonObject(x) && x.type === 'Split');
    if (byteLevel === parts.length - 1 && splits.length === 1 && parts.length === 2) {
      const pattern = splits[0].pattern;
      const regex = isJsonObject(pattern ?? undefined) ? (pattern as Record<string, JsonValue>).Regex : undefined;
      if (typeof regex === 'string' && KNOWN_SPLITS[regex]) return KNOWN_SPLITS[regex];
      return refuse(`a Split with the regex ${JSON.stringify(regex ?? pattern).slice(0, 120)}`);
    }
    return refuse(`a Sequence of ${parts.map((x) => (isJsonObject(x) ? String(x.type) : '?')).join(', ')}`);
  }
  return refuse(String(p.type));
}

/**
 * The tokenizer metadata llama.cpp reads for a byte-level BPE ("gpt2") vocab, from a model folder's
 * tokenizer.json and tokenizer_config.json; refused (ConfigError naming the field) when llama.cpp
 * would not load it the same way.
 */
export async function ggufTokenizer(dir: string, config: DecoderConfig): Promise<GgufTokenizer> {
  const where = `${dir}/tokenizer.json`;
  const json = await readJsonFile(`${dir}/tokenizer.json`);
  if (!isJsonObject(json)) throw new ConfigError(where, 'a JSON object', typeof json);
  const model = json.model;
  if (!isJsonObject(model ?? undefined)) throw new ConfigError(`${where}: model`, 'an object', JSON.stringify(model ?? null));
  const m = model as Record<string, JsonValue>;
  if (m.type !== 'BPE') {
    throw new ConfigError(`${where}: model.type`, 'BPE (kvant maps byte-level BPE tokenizers to llama.cpp\'s "gpt2" vocab only)', `${JSON.stringify(m.type)}: no mapping to llama.cpp's tokenizer in kvant`);
  }
  if (m.byte_fallback === true) throw new ConfigError(`${where}: model.byte_fallback`, 'a byte-level BPE (SentencePiece-style BPE is llama.cpp\'s "llama" vocab, not implemented)', 'true');
  const normalizer = json.normalizer;
  if (normalizer !== undefined && normalizer !== null && !(isJsonObject(normalizer) && normalizer.type === 'NFC')) {
    throw new ConfigError(`${where}: normalizer`, 'none (or NFC)', JSON.stringify(normalizer).slice(0, 80));
  }
  const pre = preTokenizerName(json.pre_tokenizer, where);
  const vocab = m.vocab;
  if (!isJsonObject(vocab ?? undefined)) throw new ConfigError(`${where}: model.vocab`, 'an object of token → id', typeof vocab);
  const tokenizer = await Tokenizer.fromFolder(dir);
  const V = config.vocab;
  const tokens: (string | undefined)[] = new Array(V);
  const types = new Array<number>(V).fill(GGUF_TOKEN_TYPES.normal);
  const place = (t: string, id: number, what: string) => {
    if (!(Number.isInteger(id) && id >= 0 && id < V)) throw new ConfigError(`${where}: ${what} ${JSON.stringify(t)}`, `an id below vocab_size ${V} (config.json)`, String(id));
    tokens[id] = t;
  };
  for (const [t, id] of Object.entries(vocab as Record<string, JsonValue>)) place(t, id as number, 'token');
  const added = Array.isArray(json.added_tokens) ? (json.added_tokens as Record<string, JsonValue>[]) : [];
  for (const a of added) {
    place(a.content as string, a.id as number, 'added token');
    types[a.id as number] = a.special === true || tokenizer.specialIds.has(a.id as number) ? GGUF_TOKEN_TYPES.control : GGUF_TOKEN_TYPES.userDefined;
  }
  for (let i = 0; i < V; i++) {
    if (tokens[i] === undefined) {
      tokens[i] = `[PAD${i}]`;
      types[i] = GGUF_TOKEN_TYPES.unused;
    }
  }
  const merges = Array.isArray(m.merges) ? m.merges.map((x) => (Array.isArray(x) ? x.join(' ') : String(x))) : [];
  if (merges.length === 0) throw new ConfigError(`${where}: model.merges`, 'the BPE merges (llama.cpp needs them)', 'none');
  const tc = tokenizer.config;
  const meta: [string, GgufValue][] = [
    ['tokenizer.ggml.model', ggufValue.string('gpt2')],
    ['tokenizer.ggml.pre', ggufValue.string(pre)],
    ['tokenizer.ggml.tokens', ggufValue.array('string', tokens as string[])],
    ['tokenizer.ggml.token_type', ggufValue.array('i32', types)],
    ['tokenizer.ggml.merges', ggufValue.array('string', merges)],
  ];
  const bos = tokenizer.bosTokenId ?? config.bosTokenId;
  const eos = tokenizer.eosTokenId ?? config.eosTokenIds[0];
  const pad = tokenizer.padTokenId;
  if (bos !== undefined) meta.push(['tokenizer.ggml.bos_token_id', ggufValue.u32(bos)]);
  if (eos !== undefined) meta.push(['tokenizer.ggml.eos_token_id', ggufValue.u32(eos)]);
  if (pad !== undefined) meta.push(['tokenizer.ggml.padding_token_id', ggufValue.u32(pad)]);
  meta.push(['tokenizer.ggml.add_bos_token', ggufValue.bool(tc.add_bos_token === true)]);
  meta.push(['tokenizer.ggml.add_eos_token', ggufValue.bool(tc.add_eos_token === true)]);
  const templates = await loadChatTemplates(dir, tc);
  const chatTemplate = templates.get('default') ?? (templates.size === 1 ? [...templates.values()][0] : undefined);
  if (chatTemplate) meta.push(['tokenizer.chat_template', ggufValue.string(chatTemplate.source)]);
  const eosTokens = [...new Set([eos, ...config.eosTokenIds].filter((i): i is number => i !== undefined && i < V).map((i) => tokens[i]!))];
  return { metadata: meta, pre, chatTemplate, tokenizer, eosTokens };
}

// ---------------------------------------------------------------------------------------------
// The export
// ---------------------------------------------------------------------------------------------

export interface GgufExportOptions {
  readonly type: GgufExportType;
  /** The LoRA adapter alone (needs an adapter on the decoder). */
  readonly adapterOnly?: boolean;
  readonly force?: boolean;
  /** general.name (default: the model folder's name). */
  readonly name?: string;
  /** More inputs the output must not overlap (the adapter folder). */
  readonly inputs?: readonly string[];
}

export interface GgufExportReport {
  readonly path: string;
  readonly arch: GgufArchitecture['arch'];
  readonly kind: 'model' | 'adapter';
  readonly tensors: readonly { readonly name: string; readonly shape: readonly number[]; readonly type: GgmlType }[];
  readonly bytes: number;
  readonly tokenizerPre?: string;
  readonly notes: readonly string[];
  /** The tokenizer (model exports), for the Modelfile. */
  readonly tokenizer?: GgufTokenizer;
}

/** general.file_type of llama.cpp (LLAMA_FTYPE_*). */
const FILE_TYPE: Readonly<Record<GgufExportType, number>> = { f32: 0, f16: 1, q8_0: 7 };

function modelMetadata(c: DecoderConfig, arch: GgufArchitecture['arch'], notes: string[]): [string, GgufValue][] {
  const k = (s: string) => `${arch}.${s}`;
  const ctx = c.maxPositions ?? 2048;
  if (c.maxPositions === undefined) notes.push('config.json has no max_position_embeddings: context_length 2048 written');
  const meta: [string, GgufValue][] = [
    [k('context_length'), ggufValue.u32(ctx)],
    [k('embedding_length'), ggufValue.u32(c.hidden)],
    [k('block_count'), ggufValue.u32(c.layers)],
    [k('feed_forward_length'), ggufValue.u32(c.intermediate)],
    [k('attention.head_count'), ggufValue.u32(c.heads)],
    [k('attention.head_count_kv'), ggufValue.u32(c.kvHeads)],
    [k('rope.freq_base'), ggufValue.f32(c.ropeTheta)],
    [k('attention.layer_norm_rms_epsilon'), ggufValue.f32(c.eps)],
    [k('rope.dimension_count'), ggufValue.u32(c.headDim)],
    [k('attention.key_length'), ggufValue.u32(c.headDim)],
    [k('attention.value_length'), ggufValue.u32(c.headDim)],
    [k('vocab_size'), ggufValue.u32(c.vocab)],
  ];
  const s = c.ropeScaling;
  if (s.rope_type === 'linear') {
    meta.push([k('rope.scaling.type'), ggufValue.string('linear')], [k('rope.scaling.factor'), ggufValue.f32(s.factor)]);
  } else if (s.rope_type !== 'default') {
    throw new ConfigError('config.json: rope_scaling.rope_type', 'default or linear (the rope scalings kvant maps to GGUF)', `${JSON.stringify(s.rope_type)}: llama.cpp's mapping is not implemented in kvant for it`);
  }
  return meta;
}

/** Everything an adapter-only export needs from the decoder's active adapter, checked. */
function checkAdapterForGguf(decoder: Decoder): { alpha: number; name: string } {
  const lora = decoder.lora;
  if (!lora || lora.configs.size === 0) throw new ConfigError('kvant export-gguf --adapter-only', 'an adapter (--adapter DIR)', 'none');
  const name = lora.activeAdapter;
  const c = lora.config(name);
  const where = `adapter ${JSON.stringify(name)}`;
  if (c.use_dora) throw new ConfigError(`${where}: use_dora`, "false (llama.cpp's LoRA adapters have no DoRA magnitude; export the merged model instead)", 'true');
  if ((c.modules_to_save ?? []).length > 0) throw new ConfigError(`${where}: modules_to_save`, "none (llama.cpp's adapters hold only lora_a/lora_b; export the merged model instead)", JSON.stringify(c.modules_to_save));
  if (c.bias !== 'none') throw new ConfigError(`${where}: bias`, '"none" (trained biases cannot go into a llama.cpp adapter; export the merged model instead)', JSON.stringify(c.bias));
  return { alpha: c.lora_alpha, name };
}

/**
 * Write the decoder (with its active adapter merged) or the adapter alone as GGUF at `out`.
 * Everything is checked first — architecture, tokenizer, adapter, output path — so a refusal leaves
 * nothing behind; the file is written atomically.
 */
export async function exportGguf(decoder: Decoder, out: string, options: GgufExportOptions): Promise<GgufExportReport> {
  const c = decoder.config;
  if (!['f32', 'f16', 'q8_0'].includes(options.type)) throw new ConfigError('GGUF type', 'f32, f16 or q8_0', JSON.stringify(options.type));
  const source = decoder.source ?? '';
  const arch = ggufArchitecture(c, `${source}/config.json`);
  const notes = [...arch.notes];
  const name = options.name ?? basename(resolve(source || 'model'));
  const inputs = [...(source ? [source] : []), ...(options.inputs ?? [])];
  const general: [string, GgufValue][] = [
    ['general.architecture', ggufValue.string(arch.arch)],
    ['general.type', ggufValue.string(options.adapterOnly ? 'adapter' : 'model')],
    ['general.name', ggufValue.string(name)],
    ['general.file_type', ggufValue.u32(FILE_TYPE[options.type])],
  ];
  if (options.type === 'q8_0') general.push(['general.quantization_version', ggufValue.u32(2)]);

  if (options.adapterOnly) {
    const { alpha, name: adapterName } = checkAdapterForGguf(decoder);
    const lora = decoder.lora!;
    const tensors: GgufTensor[] = [];
    for (const [module, layer] of lora.layers) {
      if (!layer.adapters.has(adapterName)) continue;
      const a = layer.adapter(adapterName);
      const base = ggufTensorName(`${module}.weight`);
      // llama.cpp scales by alpha / r with the file's one alpha; a module whose scaling differs (rsLoRA,
      // rank or alpha patterns) gets the difference folded into B.
      const fold = a.scaling / (alpha / a.r);
      const heads = permuteHeads(`${module}.weight`, c, arch);
      const shapeA = [a.r, layer.inFeatures];
      const shapeB = [layer.outFeatures, a.r];
      tensors.push({ name: `${base}.lora_a`, shape: shapeA, type: tensorType(shapeA, options.type), data: async () => (await downloadF32(a.A)).slice() });
      tensors.push({
        name: `${base}.lora_b`,
        shape: shapeB,
        type: tensorType(shapeB, options.type),
        data: async () => {
          let b = (await downloadF32(a.B)).slice();
          if (fold !== 1) b = b.map((x) => Math.fround(x * fold));
          return heads ? permuteRowsForRope(b, heads, a.r) : b;
        },
      });
      if (Math.abs(fold - 1) > 1e-12) notes.push(`${module}: scaling ${a.scaling} ≠ lora_alpha / r = ${alpha / a.r}; B scaled by ${fold} so llama.cpp's alpha / r gives the same update`);
    }
    if (tensors.length === 0) throw new ConfigError(`adapter ${JSON.stringify(adapterName)}`, 'at least one adapted linear module', 'none');
    const metadata: [string, GgufValue][] = [...general, ['adapter.type', ggufValue.string('lora')], ['adapter.lora.alpha', ggufValue.f32(alpha)]];
    const layout = await writeGguf(out, { metadata, tensors }, { force: options.force, inputs });
    return { path: out, arch: arch.arch, kind: 'adapter', tensors: tensors.map((t) => ({ name: t.name, shape: t.shape, type: t.type })), bytes: layout.totalBytes, notes };
  }

  const tok = await ggufTokenizer(source, c);
  const metadata: (readonly [string, GgufValue])[] = [...general, ...modelMetadata(c, arch.arch, notes), ...tok.metadata];
  const merged = await mergedDenseWeights(decoder);
  try {
    if (merged.merged.length > 0) notes.push(`adapter merged into ${merged.merged.length} modules`);
    if (merged.dequantized.length > 0) notes.push(`${merged.dequantized.length} 4-bit modules dequantized (deq(W4) + s·B·A, the weights the adapter was trained against)`);
    const tensors: GgufTensor[] = [];
    const others = otherParameters(decoder.weights);
    const add = (hfName: string, shape: readonly number[], read: () => Promise<Float32Array>) => {
      const heads = permuteHeads(hfName, c, arch);
      const cols = shape.length === 1 ? 1 : shape[1];
      tensors.push({ name: ggufTensorName(hfName), shape, type: tensorType(shape, options.type), data: async () => (heads ? permuteRowsForRope(await read(), heads, cols) : read()) });
    };
    const tensorOf = (hfName: string) => merged.parameters.get(hfName) ?? others[hfName];
    const addOther = (hfName: string) => {
      const t = tensorOf(hfName);
      add(hfName, t.shape, async () => (await downloadF32(t)).slice());
    };
    // A linear's weight: the merged tensor, else its base (dequantized when 4-bit, widened when 16-bit).
    const addWeight = (hfName: string, w: Tensor | undefined, base: BaseWeight) => {
      add(hfName, [base.outFeatures, base.inFeatures], async () => {
        const t = w ?? denseCopy(base);
        try {
          return (await downloadF32(t)).slice();
        } finally {
          if (!w) base.runtime.free(t);
        }
      });
    };
    const linears = linearModules(decoder.weights);
    addOther('model.embed_tokens.weight');
    for (let l = 0; l < c.layers; l++) {
      const p = `model.layers.${l}`;
      addOther(`${p}.input_layernorm.weight`);
      for (const m of linears.filter((x) => x.name.startsWith(`${p}.`))) {
        if (m.name.endsWith('.mlp.gate_proj')) addOther(`${p}.post_attention_layernorm.weight`);
        addWeight(`${m.name}.weight`, merged.parameters.get(`${m.name}.weight`), merged.linears.get(m.name) ?? m.base);
        const bias = merged.parameters.get(`${m.name}.bias`) ?? m.bias;
        if (bias) add(`${m.name}.bias`, bias.shape, async () => (await downloadF32(bias)).slice());
      }
    }
    addOther('model.norm.weight');
    const head = decoder.weights.lmHead;
    if (head) addWeight('lm_head.weight', merged.parameters.get('lm_head.weight'), merged.linears.get(head.name) ?? head.base);
    const fallback = tensors.filter((t) => options.type === 'q8_0' && t.shape.length === 2 && t.type === 'F16');
    if (fallback.length) notes.push(`${fallback.length} tensors with rows not a multiple of 32 written as F16 (Q8_0 blocks are 32 values)`);
    const layout = await writeGguf(out, { metadata, tensors }, { force: options.force, inputs });
    return { path: out, arch: arch.arch, kind: 'model', tensors: tensors.map((t) => ({ name: t.name, shape: t.shape, type: t.type })), bytes: layout.totalBytes, tokenizerPre: tok.pre, notes, tokenizer: tok };
  } finally {
    merged.free();
  }
}
