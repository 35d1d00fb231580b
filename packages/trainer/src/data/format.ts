/**
 * Dataset formats, as TRL names them (trl/data_utils.py), detected from the first record and
 * required of every other one:
 *
 *   text                          {"text": "..."}                     (the column is dataset_text_field)
 *   messages (conversational)     {"messages": [{"role", "content"}, ...]}
 *   prompt-completion, plain      {"prompt": "...", "completion": "..."}
 *   prompt-completion, chat       {"prompt": [messages], "completion": [messages]}
 *   tokenized                     {"input_ids": [...], "labels"?, "completion_mask"?, "assistant_masks"?}
 *
 * ShareGPT records ({"conversations": [{"from", "value"}]}) become `messages` (from→role,
 * value→content; role values such as "human" are kept, as TRL keeps them). Optional columns
 * `tools` (a list or a JSON string) and `chat_template_kwargs` pass to the chat template.
 */
import type { JsonValue } from '@kvant/formats';
import type { ChatMessage } from '@kvant/model';
import { DataFileError } from './errors';
import { type DataFile, describe } from './read';

/** The format of a dataset. */
export type SftFormat = 'text' | 'messages' | 'prompt-completion' | 'prompt-completion-conversational' | 'tokenized';

/** A record in its format, validated. */
export type SftRecord =
  | { readonly kind: 'text'; readonly line: number; readonly text: string }
  | { readonly kind: 'messages'; readonly line: number; readonly messages: ChatMessage[]; readonly tools?: unknown[]; readonly templateKwargs?: Record<string, unknown> }
  | { readonly kind: 'prompt-completion'; readonly line: number; readonly prompt: string; readonly completion: string }
  | {
      readonly kind: 'prompt-completion-conversational';
      readonly line: number;
      readonly prompt: ChatMessage[];
      readonly completion: ChatMessage[];
      readonly tools?: unknown[];
      readonly templateKwargs?: Record<string, unknown>;
    }
  | {
      readonly kind: 'tokenized';
      readonly line: number;
      readonly inputIds: number[];
      readonly labels?: number[];
      readonly completionMask?: number[];
      readonly assistantMasks?: number[];
    };

/** True for a conversational format (the chat template applies). */
export function isConversational(format: SftFormat): boolean {
  return format === 'messages' || format === 'prompt-completion-conversational';
}

const EXPECTED_KEYS = (textField: string) =>
  `one of: "${textField}" (text), "messages" (conversational), "prompt" + "completion" (strings or message lists), "input_ids" (pre-tokenized), "conversations" (ShareGPT)`;

/** A list of {role, content} objects as TRL's is_conversational reads it (its first element is an object with "role"). */
function looksConversational(v: JsonValue | undefined): boolean {
  return Array.isArray(v) && v.length > 0 && typeof v[0] === 'object' && v[0] !== null && !Array.isArray(v[0]) && 'role' in v[0];
}

/** The format of one record, or undefined when its keys match none. Checked in TRL's order: input_ids, prompt, messages, text. */
export function detectFormat(value: Readonly<Record<string, JsonValue>>, textField = 'text'): SftFormat | undefined {
  if ('input_ids' in value) return 'tokenized';
  if ('prompt' in value && 'completion' in value) return looksConversational(value.prompt) || looksConversational(value.completion) ? 'prompt-completion-conversational' : 'prompt-completion';
  if ('messages' in value || 'conversations' in value) return 'messages';
  if (textField in value) return 'text';
  return undefined;
}

function fail(file: DataFile, line: number, expected: string, found: string): never {
  throw new DataFileError('record', file.path, line, expected, found);
}

function messagesOf(file: DataFile, line: number, key: string, v: JsonValue | undefined, shareGpt = false): ChatMessage[] {
  if (!Array.isArray(v)) fail(file, line, `"${key}" as a list of messages`, describe(v));
  return v.map((m, i) => {
    if (typeof m !== 'object' || m === null || Array.isArray(m)) fail(file, line, `${key}[${i}] as a message object`, describe(m));
    const msg = shareGpt ? { ...m, role: m.from, content: m.value } : { ...m };
    if (shareGpt) {
      delete (msg as Record<string, unknown>).from;
      delete (msg as Record<string, unknown>).value;
    }
    if (typeof msg.role !== 'string') fail(file, line, `${key}[${i}].${shareGpt ? 'from' : 'role'} as a string`, describe(msg.role as JsonValue));
    if (typeof msg.content !== 'string' && msg.content !== null) fail(file, line, `${key}[${i}].${shareGpt ? 'value' : 'content'} as a string`, describe(msg.content as JsonValue));
    return msg as ChatMessage;
  });
}

function idsOf(file: DataFile, line: number, key: string, v: JsonValue | undefined, bits = false): number[] {
  if (!Array.isArray(v)) fail(file, line, `"${key}" as a list of integers`, describe(v));
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    const ok = typeof x === 'number' && Number.isSafeInteger(x) && (bits ? x === 0 || x === 1 : x >= (key === 'labels' ? -100 : 0));
    if (!ok) fail(file, line, `${key}[${i}] as ${bits ? '0 or 1' : key === 'labels' ? 'a token id or -100' : 'a token id (an integer >= 0)'}`, describe(x));
  }
  return v as number[];
}

function toolsOf(file: DataFile, line: number, v: JsonValue | undefined): unknown[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') {
    try {
      const parsed = JSON.parse(v) as unknown;
      if (Array.isArray(parsed)) return parsed;
    } catch {}
    fail(file, line, '"tools" as a list or a JSON string of a list', describe(v));
  }
  if (!Array.isArray(v)) fail(file, line, '"tools" as a list', describe(v));
  return v;
}

function kwargsOf(file: DataFile, line: number, v: JsonValue | undefined): Record<string, unknown> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) fail(file, line, '"chat_template_kwargs" as an object', describe(v));
  return v;
}

/**
 * Validate every record of a file against the format of its first record. A record of another
 * format, or with no known keys, is a DataFileError naming its line, the keys found and those expected;
 * a file with no records is a DataFileError of kind "empty".
 */
export function parseSftRecords(file: DataFile, textField = 'text'): { format: SftFormat; records: SftRecord[] } {
  if (file.records.length === 0) throw new DataFileError('empty', file.path, undefined, 'at least one record', 'an empty dataset');
  const first = file.records[0];
  const format = detectFormat(first.value, textField);
  if (format === undefined) {
    throw new DataFileError('format', file.path, first.line, `a record with ${EXPECTED_KEYS(textField)}`, `keys ${Object.keys(first.value).join(', ') || '(none)'}`);
  }
  const records = file.records.map(({ value, line }): SftRecord => {
    const f = detectFormat(value, textField);
    if (f !== format) {
      throw new DataFileError(
        'format',
        file.path,
        line,
        `the format of the first record (${format}, line ${first.line}): ${EXPECTED_KEYS(textField)}`,
        f === undefined ? `keys ${Object.keys(value).join(', ') || '(none)'}` : `a ${f} record (keys ${Object.keys(value).join(', ')})`,
      );
    }
    switch (f) {
      case 'text': {
        const text = value[textField];
        if (typeof text !== 'string') fail(file, line, `"${textField}" as a string`, describe(text));
        return { kind: 'text', line, text };
      }
      case 'messages': {
        const shareGpt = !('messages' in value);
        return {
          kind: 'messages',
          line,
          messages: messagesOf(file, line, shareGpt ? 'conversations' : 'messages', shareGpt ? value.conversations : value.messages, shareGpt),
          tools: toolsOf(file, line, value.tools),
          templateKwargs: kwargsOf(file, line, value.chat_template_kwargs),
        };
      }
      case 'prompt-completion': {
        if (typeof value.prompt !== 'string') fail(file, line, '"prompt" as a string', describe(value.prompt));
        if (typeof value.completion !== 'string') fail(file, line, '"completion" as a string (or both prompt and completion as message lists)', describe(value.completion));
        return { kind: 'prompt-completion', line, prompt: value.prompt, completion: value.completion };
      }
      case 'prompt-completion-conversational':
        return {
          kind: 'prompt-completion-conversational',
          line,
          prompt: messagesOf(file, line, 'prompt', value.prompt),
          completion: messagesOf(file, line, 'completion', value.completion),
          tools: toolsOf(file, line, value.tools),
          templateKwargs: kwargsOf(file, line, value.chat_template_kwargs),
        };
      case 'tokenized': {
        const inputIds = idsOf(file, line, 'input_ids', value.input_ids);
        const extra = (key: string, bits: boolean) => {
          if (value[key] === undefined || value[key] === null) return undefined;
          const a = idsOf(file, line, key, value[key], bits);
          if (a.length !== inputIds.length) fail(file, line, `"${key}" as long as input_ids (${inputIds.length})`, `${a.length} values`);
          return a;
        };
        return { kind: 'tokenized', line, inputIds, labels: extra('labels', false), completionMask: extra('completion_mask', true), assistantMasks: extra('assistant_masks', true) };
      }
      default:
        return fail(file, line, 'a known format', String(f));
    }
  });
  return { format, records };
}
