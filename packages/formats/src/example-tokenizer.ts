/**
 * A tiny byte-level BPE tokenizer for the example model, trained deterministically on a short
 * built-in text, written in the `tokenizer.json` format of Hugging Face `tokenizers` (the GPT-2
 * byte-to-unicode alphabet, the GPT-2 pre-tokenizer regex, merges as "a b" strings), with a ChatML
 * chat template in `tokenizer_config.json`.
 */

/** Special tokens, appended after the learned vocabulary. */
export const EXAMPLE_SPECIAL_TOKENS = ['<|begin_of_text|>', '<|end_of_text|>', '<|im_start|>', '<|im_end|>'] as const;

/** ChatML with a leading BOS, as many small chat models use. */
export const EXAMPLE_CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const CORPUS = `How do you adapt a large language model when its parameters times four bytes are more than the memory of your GPU?
You freeze the base model and compress it. Linear quantization maps each weight to an integer with a scale and a zero point.
Group-wise quantization keeps one scale for every group of consecutive weights, so one outlier spoils only its own group.
NF4 stores every weight as one of sixteen levels that follow the quantiles of a normal distribution, with one absmax per block of sixty-four weights.
Double quantization compresses the absmax values themselves to eight bits, which saves about a third of a bit per parameter.
Then you train a small low-rank adapter: two thin matrices A and B whose product is added to the frozen weight, scaled by alpha over r.
The optimizer is AdamW, or 8-bit AdamW, which keeps its two moment estimates in blockwise quantized form to save memory.
A trainer reads chat data, applies the chat template, masks the prompt tokens, accumulates gradients and saves checkpoints.
The system says: you are a helpful assistant. The user asks a question, and the assistant answers it briefly and correctly.
What is the capital of France? The capital of France is Paris. What is two plus two? Two plus two is four.
Please write a short poem about the sea. The sea is wide and deep and blue; it sings at night and shines at noon.
Kernels run on WebAssembly for any CPU, on WebGPU in a browser or in Node, and on CUDA for NVIDIA GPUs.
Every kernel has a reference written in plain TypeScript, and a conformance suite compares each runtime with that reference.
Numbers: 0 1 2 3 4 5 6 7 8 9 10 16 32 64 128 256 512 1024 2048 4096. Symbols: ( ) [ ] { } < > = + - * / % ! ? . , ; : " ' # @ & | ~ ^ _
Once upon a time, a curious student opened a notebook and asked why the loss curve suddenly jumped after warmup.
The teacher explained gradient clipping, learning-rate schedules with cosine decay, and why weight decay skips biases and norms.
Rotary position embeddings rotate queries and keys; grouped-query attention shares each key and value head among several query heads.
SwiGLU multiplies a gated projection by another projection; RMSNorm divides by the root mean square and multiplies by a learned gain.
Merging an adapter into the base weights makes deployment simple: export safetensors, or convert to GGUF for llama.cpp and Ollama.
Benchmarks validate before they time, sweep launch parameters, and report the median, bandwidth in gigabytes per second, and efficiency.
Yesterday the weather was cold and rainy; tomorrow it should be sunny and warm, perfect for walking along the river with friends.
Vegetables, fruit, bread, cheese, coffee, chocolate, butter, apples, oranges, lemons, tomatoes, potatoes, onions and garlic.
Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday; January, February, March, April, May, June, July, August.
Thank you! You're welcome. I'm sure it'll work; we've tested it, and they'd agree. Hello, world. Goodbye.
`;

/** GPT-2's map from bytes to printable unicode characters (so byte-level tokens are valid strings). */
export function bytesToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const map = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    map[b] = printable.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  }
  return map;
}

/** GPT-2 pre-tokenizer regex (what `ByteLevel` with `use_regex: true` splits on). */
export const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Split text into byte-level words (each a string of byte-to-unicode characters). */
export function byteLevelWords(text: string): string[] {
  const map = bytesToUnicode();
  const enc = new TextEncoder();
  return (text.match(GPT2_PATTERN) ?? []).map((w) => Array.from(enc.encode(w), (b) => map[b]).join(''));
}

/** A trained byte-level BPE: vocabulary (token -> id) and merges in rank order. */
export interface ByteLevelBpe {
  readonly vocab: Map<string, number>;
  readonly merges: [string, string][];
}

/**
 * Train a byte-level BPE on `text` until the vocabulary (256 bytes + merges) has `size` tokens or
 * no pair is left. The most frequent pair wins; ties go to the smaller pair (by string order), so
 * the result is deterministic.
 */
export function trainByteLevelBpe(text: string, size: number): ByteLevelBpe {
  const alphabet = [...bytesToUnicode()].sort();
  const vocab = new Map<string, number>(alphabet.map((c, i) => [c, i]));
  const counts = new Map<string, number>();
  for (const w of byteLevelWords(text)) counts.set(w, (counts.get(w) ?? 0) + 1);
  const words = [...counts].map(([w, n]) => ({ symbols: Array.from(w), n }));
  const merges: [string, string][] = [];
  while (vocab.size < size) {
    const pairs = new Map<string, number>();
    for (const { symbols, n } of words) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = `${symbols[i]} ${symbols[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + n);
      }
    }
    let best: string | undefined;
    let bestCount = 0;
    for (const [key, n] of pairs) {
      if (n > bestCount || (n === bestCount && best !== undefined && key < best)) {
        best = key;
        bestCount = n;
      }
    }
    if (best === undefined) break;
    const [a, b] = best.split(' ') as [string, string];
    merges.push([a, b]);
    if (!vocab.has(a + b)) vocab.set(a + b, vocab.size);
    for (const w of words) {
      const s = w.symbols;
      for (let i = 0; i + 1 < s.length; i++) {
        if (s[i] === a && s[i + 1] === b) s.splice(i, 2, a + b);
      }
    }
  }
  return { vocab, merges };
}

/** Encode text with a trained BPE (merges applied by rank within each word); for tests. */
export function encodeByteLevelBpe(bpe: ByteLevelBpe, text: string): number[] {
  const rank = new Map(bpe.merges.map(([a, b], i) => [`${a} ${b}`, i]));
  const ids: number[] = [];
  for (const w of byteLevelWords(text)) {
    const s = Array.from(w);
    for (;;) {
      let bestI = -1;
      let bestRank = Number.POSITIVE_INFINITY;
      for (let i = 0; i + 1 < s.length; i++) {
        const r = rank.get(`${s[i]} ${s[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          bestI = i;
        }
      }
      if (bestI < 0) break;
      s.splice(bestI, 2, s[bestI] + s[bestI + 1]);
    }
    for (const t of s) ids.push(bpe.vocab.get(t)!);
  }
  return ids;
}

/** Decode ids of a trained BPE back to text; for tests. */
export function decodeByteLevelBpe(bpe: ByteLevelBpe, ids: readonly number[]): string {
  const byId = new Map([...bpe.vocab].map(([t, i]) => [i, t]));
  const fromChar = new Map(bytesToUnicode().map((c, b) => [c, b]));
  const bytes = ids.flatMap((id) => Array.from(byId.get(id) ?? '', (c) => fromChar.get(c)!));
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** The files of the example tokenizer (BPE trained on `corpus`, by default a built-in text): `tokenizer.json`, `tokenizer_config.json`, `special_tokens_map.json`. */
export function exampleTokenizerFiles(vocabSize: number, corpus: string = CORPUS): {
  files: Record<string, unknown>;
  bpe: ByteLevelBpe;
  specialIds: Record<(typeof EXAMPLE_SPECIAL_TOKENS)[number], number>;
} {
  const bpe = trainByteLevelBpe(corpus, vocabSize - EXAMPLE_SPECIAL_TOKENS.length);
  const first = bpe.vocab.size;
  const specialIds = Object.fromEntries(EXAMPLE_SPECIAL_TOKENS.map((t, i) => [t, first + i])) as Record<(typeof EXAMPLE_SPECIAL_TOKENS)[number], number>;
  const added = EXAMPLE_SPECIAL_TOKENS.map((content) => ({
    id: specialIds[content],
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const bos = '<|begin_of_text|>';
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: bos, type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { [bos]: { id: bos, ids: [specialIds[bos]], tokens: [bos] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(bpe.vocab),
      merges: bpe.merges.map(([a, b]) => `${a} ${b}`),
    },
  };
  const tokenizerConfig = {
    add_bos_token: true,
    add_eos_token: false,
    added_tokens_decoder: Object.fromEntries(added.map(({ id, ...rest }) => [String(id), rest])),
    bos_token: bos,
    chat_template: EXAMPLE_CHAT_TEMPLATE,
    clean_up_tokenization_spaces: false,
    eos_token: '<|im_end|>',
    model_max_length: 2048,
    pad_token: '<|end_of_text|>',
    tokenizer_class: 'PreTrainedTokenizerFast',
  };
  const specialTokensMap = { bos_token: bos, eos_token: '<|im_end|>', pad_token: '<|end_of_text|>' };
  return {
    files: { 'tokenizer.json': tokenizer, 'tokenizer_config.json': tokenizerConfig, 'special_tokens_map.json': specialTokensMap },
    bpe,
    specialIds,
  };
}
