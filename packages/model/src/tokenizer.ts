/**
 * The tokenizer of a Hugging Face folder: `tokenizer.json` run by `@huggingface/tokenizers`, with
 * `tokenizer_config.json`'s special tokens and BOS/EOS rule applied as transformers (v5,
 * `TokenizersBackend`) applies them, so `encode(text)` gives the ids of `tokenizer(text)["input_ids"]`.
 *
 * The BOS/EOS rule is tokenizer.json's post-processor alone (a Llama-3-style TemplateProcessing adds
 * BOS; Qwen2's ByteLevel adds nothing; none adds nothing). transformers 5 drops tokenizer_config.json's
 * `add_bos_token` / `add_eos_token` when a tokenizer.json exists (`from_pretrained` pops them), and so
 * does kvant: the interop test checks a config with `add_bos_token: true` over a post-processor that
 * adds none. Named special tokens of the config (bos, eos, pad, unk, additional_special_tokens) that
 * tokenizer.json lacks are added as special tokens after the vocabulary, as transformers adds them.
 */
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { isJsonObject, type JsonValue, ModelFileError, readJsonFile } from '@kvant/formats';
import { tokenOffsets } from './tokenizer-offsets';

/** Names of the special tokens a tokenizer_config.json may set. */
export const SPECIAL_TOKEN_NAMES = ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token'] as const;
export type SpecialTokenName = (typeof SPECIAL_TOKEN_NAMES)[number];

/** Options of Tokenizer.encode. */
export interface EncodeOptions {
  /** Add the special tokens of the post-processor (BOS, EOS), as `tokenizer(text)` does (default true). */
  readonly addSpecialTokens?: boolean;
}

/** Options of Tokenizer.decode. */
export interface DecodeOptions {
  /** Drop special tokens (BOS, EOS, template markers), as `skip_special_tokens=True` (default false). */
  readonly skipSpecialTokens?: boolean;
}

/** Ids with the character span `[start, end)` of each token in the encoded text (UTF-16 indices; [0, 0] for tokens the post-processor added). */
export interface EncodingWithOffsets {
  readonly ids: number[];
  readonly offsets: [number, number][];
}

/** A token string of tokenizer_config.json: a string, or an AddedToken object with `content`. */
function tokenContent(value: JsonValue | undefined, where: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (isJsonObject(value) && typeof value.content === 'string') return value.content;
  throw new ModelFileError(where, 'a token string or an object with a "content" string', JSON.stringify(value).slice(0, 80));
}

interface AddedTokenJson {
  id: number;
  content: string;
  special: boolean;
  [key: string]: unknown;
}

/**
 * A tokenizer: `tokenizer.json` with the special tokens and BOS/EOS rule of `tokenizer_config.json`.
 * Load one with `Tokenizer.fromFolder(dir)` or `Tokenizer.fromObjects(json, config)`.
 */
export class Tokenizer {
  /** Special token strings by name (bos_token, eos_token, pad_token, …), as transformers' special_tokens_map. */
  readonly specialTokens: Readonly<Partial<Record<SpecialTokenName, string>>>;
  /** Ids of every special token (the added tokens marked special, and the named ones). */
  readonly specialIds: ReadonlySet<number>;
  /** The raw tokenizer_config.json object (chat templates are read from it). */
  readonly config: Readonly<Record<string, JsonValue>>;
  private readonly hf: HfTokenizer;
  private readonly json: Record<string, JsonValue>;
  private readonly addedById = new Map<number, AddedTokenJson>();

  private constructor(
    json: Record<string, JsonValue>,
    config: Record<string, JsonValue>,
    /** Where the tokenizer came from (for errors). */
    readonly source: string,
  ) {
    const where = `${source}/tokenizer_config.json`;
    this.config = config;
    const special: Partial<Record<SpecialTokenName, string>> = {};
    for (const name of SPECIAL_TOKEN_NAMES) {
      const t = tokenContent(config[name], `${where}: ${name}`);
      if (t !== undefined) special[name] = t;
    }
    this.specialTokens = special;
    const extra = Array.isArray(config.additional_special_tokens)
      ? config.additional_special_tokens.map((t, i) => tokenContent(t, `${where}: additional_special_tokens[${i}]`)!)
      : [];

    // Add the named special tokens tokenizer.json lacks, after the largest id (as transformers' add_tokens does).
    const model = json.model as Record<string, JsonValue>;
    const vocab = isJsonObject(model.vocab) ? (model.vocab as Record<string, number>) : undefined;
    const added: AddedTokenJson[] = Array.isArray(json.added_tokens) ? (json.added_tokens as unknown as AddedTokenJson[]).map((t) => ({ ...t })) : [];
    const known = new Set<string>(added.map((t) => t.content));
    let next = 0;
    for (const t of added) next = Math.max(next, t.id + 1);
    if (vocab) {
      for (const [t, id] of Object.entries(vocab)) {
        known.add(t);
        next = Math.max(next, id + 1);
      }
    } else if (Array.isArray(model.vocab)) {
      // Unigram: [[piece, score], ...]
      for (const entry of model.vocab) if (Array.isArray(entry) && typeof entry[0] === 'string') known.add(entry[0]);
      next = Math.max(next, model.vocab.length);
    }
    for (const content of [...Object.values(special), ...extra]) {
      if (known.has(content)) {
        const a = added.find((t) => t.content === content);
        if (a) a.special = true;
        continue;
      }
      added.push({ id: next++, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
      known.add(content);
    }
    for (const t of added) this.addedById.set(t.id, t);
    json = { ...json, added_tokens: added as unknown as JsonValue };

    this.json = json;
    try {
      this.hf = new HfTokenizer(json, { ...config, additional_special_tokens: extra });
    } catch (e) {
      throw new ModelFileError(`${source}/tokenizer.json`, 'a tokenizer.json that @huggingface/tokenizers can load', (e as Error).message);
    }
    this.specialIds = new Set([...added.filter((t) => t.special).map((t) => t.id), ...[...Object.values(special), ...extra].map((t) => this.hf.token_to_id(t)!)]);
  }

  /**
   * Read `tokenizer.json` and `tokenizer_config.json` (optional; an empty config when absent) from a
   * model folder. A missing or malformed tokenizer.json is a ModelFileError naming the file.
   */
  static async fromFolder(dir: string): Promise<Tokenizer> {
    const jsonPath = join(dir, 'tokenizer.json');
    const json = await readJsonFile(jsonPath);
    const configPath = join(dir, 'tokenizer_config.json');
    let config: JsonValue = {};
    try {
      config = await readJsonFile(configPath);
    } catch (e) {
      if (!(e instanceof ModelFileError && /no such file/.test(e.found))) throw e;
    }
    if (!isJsonObject(config)) throw new ModelFileError(configPath, 'a JSON object', typeof config);
    return Tokenizer.fromObjects(json, config, dir);
  }

  /** Build from parsed `tokenizer.json` and `tokenizer_config.json` objects; `source` names them in errors. */
  static fromObjects(json: JsonValue, config: JsonValue = {}, source = '(in memory)'): Tokenizer {
    const where = `${source}/tokenizer.json`;
    if (!isJsonObject(json)) throw new ModelFileError(where, 'a JSON object', Array.isArray(json) ? 'an array' : typeof json);
    if (!isJsonObject(json.model) || typeof json.model.type !== 'string') {
      throw new ModelFileError(where, 'a "model" object with a "type" (BPE, WordPiece, Unigram)', JSON.stringify(json.model ?? null).slice(0, 60));
    }
    if (json.added_tokens !== undefined && !Array.isArray(json.added_tokens)) throw new ModelFileError(where, '"added_tokens" as a list', typeof json.added_tokens);
    if (!isJsonObject(config)) throw new ModelFileError(`${source}/tokenizer_config.json`, 'a JSON object', typeof config);
    return new Tokenizer(json, config, source);
  }

  /** The ids of `text`, as `tokenizer(text)["input_ids"]` (with `addSpecialTokens: false`, as `add_special_tokens=False`). */
  encode(text: string, options: EncodeOptions = {}): number[] {
    return this.hf.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  }

  /** Ids and each token's character span in `text` (what transformers' `char_to_token` reads), for masks built from character ranges. */
  encodeWithOffsets(text: string, options: EncodeOptions = {}): EncodingWithOffsets {
    const { ids, tokens } = this.hf.encode(text, { add_special_tokens: options.addSpecialTokens ?? true });
    return { ids, offsets: tokenOffsets(text, tokens, ids, this.json, (id) => this.addedById.get(id)?.content, this.source) };
  }

  /** The text of `ids`, as `tokenizer.decode(ids, skip_special_tokens=…)`. */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    if (ids.length === 0) return '';
    const kept = options.skipSpecialTokens ? ids.filter((id) => !this.specialIds.has(id)) : [...ids];
    if (kept.length === 0) return '';
    return this.hf.decode(kept, { skip_special_tokens: false, clean_up_tokenization_spaces: this.config.clean_up_tokenization_spaces === true });
  }

  /** The id of a token string, or undefined. */
  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  /** The token string of an id, or undefined. */
  idToToken(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }

  /** Number of ids (vocabulary and added tokens). */
  get vocabSize(): number {
    return this.hf.get_vocab(true).size;
  }

  /** The id of a named special token, or undefined when it is not set. */
  specialId(name: SpecialTokenName): number | undefined {
    const t = this.specialTokens[name];
    return t === undefined ? undefined : this.hf.token_to_id(t);
  }

  get bosToken(): string | undefined {
    return this.specialTokens.bos_token;
  }
  get eosToken(): string | undefined {
    return this.specialTokens.eos_token;
  }
  get padToken(): string | undefined {
    return this.specialTokens.pad_token;
  }
  get bosTokenId(): number | undefined {
    return this.specialId('bos_token');
  }
  get eosTokenId(): number | undefined {
    return this.specialId('eos_token');
  }
  get padTokenId(): number | undefined {
    return this.specialId('pad_token');
  }
}

/** Load the tokenizer of a Hugging Face folder (see Tokenizer.fromFolder). */
export function loadTokenizer(dir: string): Promise<Tokenizer> {
  return Tokenizer.fromFolder(dir);
}
