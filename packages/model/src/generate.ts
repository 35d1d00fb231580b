/**
 * Generation: greedy (nn.argmax) or sampled (nn.sample: temperature, then top-k, then top-p, as
 * transformers' warpers apply them), from a seeded host generator of uniforms, stopping at an EOS id,
 * a stop string or max_new_tokens, with each new piece of text streamed to a callback.
 *
 * With the KV cache (the default, kv-cache.ts) the prompt is run once (prefill) and every later
 * step runs one token against the cached keys and values (nn.attention_decode); `cache: false`
 * runs the full forward over the whole sequence at every step instead (O(T²) per token). Both
 * give the same logits bit for bit on a runtime, so the same tokens (tested).
 */
import { ConfigError, type Tensor } from '@kvant/abi';
import { Xoshiro128 } from '@kvant/formats';
import { Selectors, takeColumns } from './columns';
import type { Decoder } from './decoder';
import type { KvCache } from './kv-cache';

export interface GenerateOptions {
  /** Default 32. */
  readonly maxNewTokens?: number;
  /** 0 (the default): greedy. */
  readonly temperature?: number;
  /** 0 (the default): off. */
  readonly topK?: number;
  /** 1 (the default): off. */
  readonly topP?: number;
  /** Seed of the sampling uniforms (default 0). */
  readonly seed?: number;
  /** Token ids that end generation (default: the config's eos_token_id). The stop token is kept in `tokenIds`. */
  readonly eosTokenIds?: readonly number[];
  /** Strings that end generation; the text is cut before the first one. Needs `decode`. */
  readonly stopStrings?: readonly string[];
  /** Turns ids into text (the tokenizer's decode, skipping special tokens); needed for text, streaming and stop strings. */
  readonly decode?: (ids: readonly number[]) => string;
  /** Called with each new piece of text as it becomes final (needs `decode`). */
  readonly onText?: (piece: string) => void;
  /** Called with each new token id. */
  readonly onToken?: (id: number) => void;
  /** Keep keys and values in a KV cache (default true); false re-runs the full forward every step. */
  readonly cache?: boolean;
}

export interface GenerateResult {
  /** The generated ids (the EOS id included when one ended it). */
  readonly tokenIds: number[];
  /** The generated text (cut before a stop string), when `decode` was given. */
  readonly text?: string;
  readonly finishReason: 'eos' | 'stop_string' | 'length';
}

/** Generate after `promptIds` (one row) with the decoder's active adapter, if any. */
export async function generate(model: Decoder, promptIds: readonly number[], options: GenerateOptions = {}): Promise<GenerateResult> {
  const rt = model.runtime;
  const V = model.config.vocab;
  const maxNew = options.maxNewTokens ?? 32;
  const temperature = options.temperature ?? 0;
  const topK = options.topK ?? 0;
  const topP = options.topP ?? 1;
  if (!(Number.isInteger(maxNew) && maxNew >= 0)) throw new ConfigError('generate maxNewTokens', 'a non-negative integer', String(maxNew));
  if (!(temperature >= 0 && Number.isFinite(temperature))) throw new ConfigError('generate temperature', 'a finite number >= 0 (0: greedy)', String(temperature));
  if (!(Number.isInteger(topK) && topK >= 0)) throw new ConfigError('generate topK', 'a non-negative integer (0: off)', String(topK));
  if (!(topP > 0 && topP <= 1)) throw new ConfigError('generate topP', 'a number in (0, 1]', String(topP));
  if (promptIds.length === 0) throw new ConfigError('generate promptIds', 'at least one token', 'none');
  if ((options.stopStrings?.length || options.onText) && !options.decode) throw new ConfigError('generate decode', 'a decode function (stop strings and streaming need text)', 'none');
  const eos = new Set(options.eosTokenIds ?? model.config.eosTokenIds);
  const rng = new Xoshiro128(options.seed ?? 0);
  const sel = new Selectors(rt);
  const row = rt.alloc('f32', [V]);
  const id = rt.alloc('i32', [1]);
  const uniform = rt.alloc('f32', [1]);
  const work = rt.alloc('u32', [2 * V]);
  const ids = [...promptIds];
  const out: number[] = [];
  let emitted = '';
  let finishReason: GenerateResult['finishReason'] = 'length';
  let text: string | undefined;
  let cache: KvCache | undefined;
  try {
    for (let step = 0; step < maxNew; step++) {
      const t = ids.length;
      let last: Tensor;
      if (options.cache ?? true) {
        // The prompt once (prefill), then only the newest token; the last generated token is never fed.
        cache ??= model.createKvCache(promptIds.length + maxNew - 1);
        last = await model.forwardCached(cache, step === 0 ? ids : ids.slice(cache.length));
      } else {
        const { logits } = await model.forward({ b: 1, t, inputIds: ids });
        // row (V) = logits[t - 1] (the last position's logits, a column block of the [1, t·V] view)
        takeColumns(rt, sel, logits as Tensor, row, 1, t * V, (t - 1) * V, V);
        last = row;
      }
      if (temperature === 0) rt.dispatch('nn.argmax', { x: last, ids: id }, { n: 1, v: V });
      else {
        // u in [0, 1) with 24 bits, exact in f32 (a 32-bit u / 2^32 can round up to 1.0)
        rt.write(uniform, new Float32Array([(rng.nextU32() >>> 8) / 2 ** 24]));
        rt.dispatch('nn.sample', { logits: last, uniforms: uniform, ids: id, work }, { n: 1, v: V, top_k: topK, top_p: Math.fround(topP), inv_temperature: Math.fround(1 / temperature) });
      }
      const next = new Int32Array((await rt.read(id)).buffer.slice(0, 4))[0];
      if (next < 0) throw new ConfigError('generate', 'finite logits', `an invalid row at step ${step} (NaN or +Inf logits)`);
      ids.push(next);
      out.push(next);
      options.onToken?.(next);
      if (options.decode) {
        text = options.decode(out);
        const stop = firstStop(text, options.stopStrings ?? []);
        if (stop !== undefined) {
          text = text.slice(0, stop);
          finishReason = 'stop_string';
        }
        // Hold back a trailing replacement character (half of a multi-byte character) and a possible stop-string prefix.
        const final = finishReason === 'stop_string' || eos.has(next) ? text : holdBack(text, options.stopStrings ?? []);
        if (final.length > emitted.length && final.startsWith(emitted)) {
          options.onText?.(final.slice(emitted.length));
          emitted = final;
        }
        if (finishReason === 'stop_string') break;
      }
      if (eos.has(next)) {
        finishReason = 'eos';
        break;
      }
    }
    if (options.decode && text !== undefined && text.length > emitted.length && text.startsWith(emitted)) options.onText?.(text.slice(emitted.length));
    return { tokenIds: out, ...(options.decode ? { text: text ?? '' } : {}), finishReason };
  } finally {
    for (const t of [row, id, uniform, work]) rt.free(t);
    sel.free();
    cache?.free();
  }
}

function firstStop(text: string, stops: readonly string[]): number | undefined {
  let best: number | undefined;
  for (const s of stops) {
    if (!s) continue;
    const i = text.indexOf(s);
    if (i >= 0 && (best === undefined || i < best)) best = i;
  }
  return best;
}

/** The part of `text` that can be shown now: without a trailing U+FFFD or a suffix that may begin a stop string. */
function holdBack(text: string, stops: readonly string[]): string {
  let end = text.length;
  while (end > 0 && text[end - 1] === '\uFFFD') end--;
  for (const s of stops) {
    for (let k = Math.min(s.length - 1, end); k > 0; k--) {
      if (text.slice(end - k, end) === s.slice(0, k)) {
        end -= k;
        break;
      }
    }
  }
  return text.slice(0, end);
}
