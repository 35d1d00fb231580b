/**
 * Chat templates: the Jinja template of a Hugging Face tokenizer (tokenizer_config.json's
 * `chat_template`, a string or a list of named templates, or `chat_template.jinja`), rendered with
 * `@huggingface/jinja` with the variables transformers' `apply_chat_template` passes: `messages`,
 * `tools`, `documents`, `add_generation_prompt`, the special tokens (`bos_token`, `eos_token`, …)
 * and `raise_exception`. `{% generation %}…{% endgeneration %}` blocks are tracked as character
 * spans, from which `assistantMask` is built as transformers builds `assistant_masks`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { KvantError } from '@kvant/abi';
import { isJsonObject, type JsonValue, ModelFileError, statRegularFile } from '@kvant/formats';
import type { Tokenizer } from './tokenizer';
import { charToToken } from './tokenizer-offsets';

/** One chat message (content as a string; extra keys such as `tool_calls` pass to the template as they are). */
export interface ChatMessage {
  readonly role: string;
  readonly content: string;
  readonly [key: string]: unknown;
}

/** Options of ChatTemplate.render and applyChatTemplate. */
export interface RenderOptions {
  /** Append the header that starts an assistant turn (transformers' `add_generation_prompt`, default false). */
  readonly addGenerationPrompt?: boolean;
  /** Tool definitions for the template (`tools`; default none). */
  readonly tools?: readonly unknown[] | null;
  /** More variables for the template (TRL's `chat_template_kwargs`); they override the special tokens. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** A rendered conversation and the `[start, end)` character spans of its `{% generation %}` blocks. */
export interface RenderedChat {
  readonly text: string;
  readonly generationSpans: readonly [number, number][];
}

/** A template failed: a syntax error when compiled, or `raise_exception(...)` / an error while rendering. */
export class ChatTemplateError extends KvantError {
  constructor(
    readonly where: string,
    readonly expected: string,
    readonly found: string,
  ) {
    super('E_CHAT_TEMPLATE', `${where}: expected ${expected}, found ${found}`);
  }
}

// Private-use characters mark where generation blocks start and end in the rendered text.
const GEN_START = '\uE000';
const GEN_END = '\uE001';

/**
 * Replace `{% generation %}` / `{% endgeneration %}` by expressions that print a marker, keeping
 * the whitespace rules a block tag has (lstrip_blocks before it at a line start, trim_blocks after
 * it, `-` on either side), so the rendered text is what transformers renders, plus markers.
 */
export function markGenerationBlocks(source: string): string {
  return source.replace(/([ \t]*)\{%(-?)\s*(end)?generation\s*(-?)%\}(\n?)/g, (_m, ws: string, l: string, end: string | undefined, r: string, _nl: string, offset: number) => {
    const atLineStart = offset === 0 || source[offset - 1] === '\n';
    const before = atLineStart ? '' : ws;
    return `${before}{{${l} '${end ? GEN_END : GEN_START}' ${r}}}`;
  });
}

/** True when a template has `{% generation %}` blocks (what assistant-only loss needs). */
export function hasGenerationBlocks(source: string): boolean {
  return /\{%-?\s*generation\s*-?%\}/.test(source);
}

/** A compiled chat template. */
export class ChatTemplate {
  private readonly template: Template;
  /** Whether it has `{% generation %}` blocks. */
  readonly hasGeneration: boolean;

  constructor(
    /** The Jinja source. */
    readonly source: string,
    /** Where it came from (a file, or a file and a template name), for errors. */
    readonly where = 'chat template',
  ) {
    this.hasGeneration = hasGenerationBlocks(source);
    try {
      this.template = new Template(markGenerationBlocks(source));
    } catch (e) {
      throw new ChatTemplateError(where, 'a Jinja template that @huggingface/jinja can parse', (e as Error).message);
    }
  }

  /** Render `messages` with `specialTokens` (bos_token, eos_token, …) as variables. */
  render(messages: readonly ChatMessage[], specialTokens: Readonly<Record<string, string | undefined>> = {}, options: RenderOptions = {}): RenderedChat {
    let raw: string;
    try {
      raw = this.template.render({
        ...Object.fromEntries(Object.entries(specialTokens).filter(([, v]) => v !== undefined)),
        messages,
        tools: options.tools ?? null,
        documents: null,
        add_generation_prompt: options.addGenerationPrompt ?? false,
        ...options.extra,
      });
    } catch (e) {
      throw new ChatTemplateError(this.where, 'a conversation the template accepts', (e as Error).message);
    }
    const spans: [number, number][] = [];
    let text = '';
    let open = -1;
    for (const ch of raw) {
      if (ch === GEN_START) open = text.length;
      else if (ch === GEN_END) {
        if (open >= 0) spans.push([open, text.length]);
        open = -1;
      } else text += ch;
    }
    return { text, generationSpans: spans };
  }
}

/** The chat templates of a tokenizer, by name (`default` for a single template). */
export type ChatTemplates = ReadonlyMap<string, ChatTemplate>;

/** Parse tokenizer_config.json's `chat_template` (a string, or a list of `{name, template}`); `where` names the file. */
export function chatTemplatesFromConfig(value: JsonValue | undefined, where: string): Map<string, ChatTemplate> {
  const out = new Map<string, ChatTemplate>();
  if (value === undefined || value === null) return out;
  if (typeof value === 'string') {
    out.set('default', new ChatTemplate(value, `${where}: chat_template`));
    return out;
  }
  if (Array.isArray(value)) {
    value.forEach((t, i) => {
      if (!isJsonObject(t) || typeof t.name !== 'string' || typeof t.template !== 'string') {
        throw new ModelFileError(where, `chat_template[${i}] as {"name": string, "template": string}`, JSON.stringify(t).slice(0, 80));
      }
      out.set(t.name, new ChatTemplate(t.template, `${where}: chat_template "${t.name}"`));
    });
    return out;
  }
  throw new ModelFileError(where, 'chat_template as a string or a list of {"name", "template"}', typeof value);
}

/**
 * The chat templates of a model folder: `chat_template.jinja` when present (it wins, as in
 * transformers), else tokenizer_config.json's `chat_template`. Empty when there is none.
 */
export async function loadChatTemplates(dir: string, tokenizerConfig: Readonly<Record<string, JsonValue>>): Promise<Map<string, ChatTemplate>> {
  const jinjaPath = join(dir, 'chat_template.jinja');
  const exists = await statRegularFile(jinjaPath, 'a chat template file').then(
    () => true,
    () => false,
  );
  const templates = chatTemplatesFromConfig(tokenizerConfig.chat_template, join(dir, 'tokenizer_config.json'));
  if (exists) templates.set('default', new ChatTemplate(await readFile(jinjaPath, 'utf8'), jinjaPath));
  return templates;
}

/**
 * Choose a template as transformers does: the one named `name`; else the only one or `default`.
 * A tokenizer with none throws a ModelFileError that says where a template was looked for.
 */
export function selectChatTemplate(templates: ChatTemplates, source: string, name?: string): ChatTemplate {
  if (name !== undefined) {
    const t = templates.get(name);
    if (!t) throw new ModelFileError(`${source}/tokenizer_config.json`, `a chat template named ${JSON.stringify(name)}`, `templates: ${[...templates.keys()].join(', ') || 'none'}`);
    return t;
  }
  const t = templates.get('default') ?? (templates.size === 1 ? [...templates.values()][0] : undefined);
  if (t) return t;
  throw new ModelFileError(
    `${source}/tokenizer_config.json`,
    'a chat template (tokenizer_config.json "chat_template", or chat_template.jinja) for conversational data',
    templates.size ? `several named templates and no "default": ${[...templates.keys()].join(', ')}` : 'none',
  );
}

/** A conversation as ids, with the assistant mask when asked (transformers' `apply_chat_template(tokenize=True, return_dict=True)`). */
export interface ChatEncoding {
  readonly text: string;
  readonly ids: number[];
  /** 1 for tokens inside `{% generation %}` blocks (only with `returnAssistantTokensMask`). */
  readonly assistantMask?: number[];
}

/**
 * Render and tokenize a conversation as `apply_chat_template(messages, tokenize=True)`: the text is
 * encoded without adding special tokens (the template writes its own BOS, so there is no double BOS).
 * With `returnAssistantTokensMask`, a token is 1 from the one holding a generation block's first
 * character to the one holding its last, as transformers' `char_to_token` mask.
 */
export function applyChatTemplate(
  tokenizer: Tokenizer,
  template: ChatTemplate,
  messages: readonly ChatMessage[],
  options: RenderOptions & { readonly returnAssistantTokensMask?: boolean } = {},
): ChatEncoding {
  const { text, generationSpans } = template.render(messages, tokenizer.specialTokens, options);
  if (!options.returnAssistantTokensMask) return { text, ids: tokenizer.encode(text, { addSpecialTokens: false }) };
  const { ids, offsets } = tokenizer.encodeWithOffsets(text, { addSpecialTokens: false });
  const mask = new Array<number>(ids.length).fill(0);
  for (const [s, e] of generationSpans) {
    const first = charToToken(offsets, s);
    if (first === undefined) break;
    const last = charToToken(offsets, e - 1);
    // transformers: `end_token + 1 if end_token else len(input_ids)` (a falsy 0 also runs to the end)
    const stop = last ? last + 1 : ids.length;
    for (let k = first; k < stop; k++) mask[k] = 1;
  }
  return { text, ids, assistantMask: mask };
}

/** A folder's tokenizer with its chat templates (what data preparation and generation read). */
export interface ChatTokenizer {
  readonly tokenizer: Tokenizer;
  readonly chatTemplates: ChatTemplates;
}
