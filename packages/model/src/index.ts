/**
 * @kvant/model — the Llama-family decoder (forward, backward, generation: not written yet), the
 * tokenizer of a Hugging Face folder (`tokenizer.json` through @huggingface/tokenizers, with
 * transformers' special-token and BOS/EOS rules) and chat templates (@huggingface/jinja, with
 * `{% generation %}` masks). File formats live in @kvant/formats.
 */
export * from './chat-template';
export * from './tokenizer';
export { charToToken, tokenOffsets } from './tokenizer-offsets';

import { type ChatTokenizer, loadChatTemplates } from './chat-template';
import { Tokenizer } from './tokenizer';

/** Load a folder's tokenizer (tokenizer.json, tokenizer_config.json) and its chat templates (chat_template.jinja or tokenizer_config.json). */
export async function loadChatTokenizer(dir: string): Promise<ChatTokenizer> {
  const tokenizer = await Tokenizer.fromFolder(dir);
  return { tokenizer, chatTemplates: await loadChatTemplates(dir, tokenizer.config) };
}

// The decoder: config, weights, forward/backward, generation.
export * from './activations';
export * from './decoder';
export * from './decoder-config';
export * from './decoder-weights';
export { type RopeProvider, RopeTables } from './rope-tables';
export * from './generate';
export { DECODER_CACHE_KERNELS, KvCache, kvCacheBytes } from './kv-cache';
export * from './save-model';
export * from './merge-model';
export * from './gguf-export';
export * from './ollama-modelfile';
