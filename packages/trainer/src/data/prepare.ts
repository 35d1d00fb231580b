/**
 * SFT data preparation with TRL's semantics and defaults (`SFTTrainer._prepare_dataset`, trl 1.13):
 *
 * 1. Plain text and plain completions get the EOS token appended when they do not end with it.
 *    Conversational data gets none (the chat template writes its end-of-turn tokens).
 * 2. Tokenize: plain text as `tokenizer(text)` (the tokenizer's own BOS rule); conversations through
 *    the chat template, encoded without special tokens (so a template that writes BOS gives one BOS);
 *    prompt/completion by tokenizing the prompt alone (a conversational prompt with the generation
 *    prompt) and prompt + completion, the completion mask being 0 over the prompt's length.
 * 3. Labels: the token id where every applicable mask is 1, else -100. The completion mask applies
 *    when completion_only_loss (default: true for prompt/completion data); the assistant mask
 *    (`{% generation %}` blocks) when assistant_only_loss.
 * 4. Truncate to max_length (the first tokens) and drop examples with no label left (counted).
 * 5. Pack (best-fit decreasing) when packing: rows of at most max_length tokens, position ids restarting
 *    at each example, and the label of each example's first token set to -100 (it would be predicted
 *    from the previous example), as TRL's padding-free collator does.
 *
 * Labels stay aligned with input_ids, as transformers keeps them: the loss shifts them (position t
 * predicts labels[t + 1]), so labels[0] of a row never counts.
 */
import type { ChatMessage, ChatTemplate, ChatTemplates, Tokenizer } from '@kvant/model';
import { applyChatTemplate, selectChatTemplate } from '@kvant/model';
import { type ResolvedSftDataConfig, resolveSftDataConfig, type SftDataConfig } from './config';
import { DataConfigError, DataFileError } from './errors';
import { isConversational, type SftFormat, type SftRecord } from './format';
import { packBestFitDecreasing } from './pack';

/** The label of a token that carries no loss. */
export const IGNORE_INDEX = -100;

/** One training row: a single example, or several packed together. */
export interface PreparedExample {
  /** Token ids, length T. */
  readonly inputIds: number[];
  /** Aligned with inputIds (no shift); -100 where no loss. */
  readonly labels: number[];
  /** Position of each token within its example (restarts at 0 at each packed example). */
  readonly positionIds: number[];
  /** 1 where labels[t] is a loss target (labels[t] != -100), else 0. */
  readonly lossMask: number[];
  /** Lengths of the examples in this row, in order (one entry when not packed); they sum to T. */
  readonly seqLengths: number[];
  /** The data-file line (or JSON-array position) of each example in the row. */
  readonly lines: number[];
}

/** What preparation did, for the report. */
export interface PreparationStats {
  readonly format: SftFormat;
  /** Records read. */
  readonly records: number;
  /** Examples kept (before packing). */
  readonly examples: number;
  /** Rows produced (= examples when not packing). */
  readonly rows: number;
  /** Examples longer than max_length that were cut. */
  readonly truncated: number;
  /** Tokens cut off by truncation. */
  readonly truncatedTokens: number;
  /** Examples dropped because no token carried loss after masking and truncation (with their lines, first 20). */
  readonly droppedNoLoss: number;
  readonly droppedNoLossLines: number[];
  /** Prompt/completion examples whose tokenized prompt is not a prefix of prompt + completion (TRL warns; the mask still uses the prompt's length). */
  readonly promptMismatch: number;
  /** Tokens in all rows, and those that carry loss. */
  readonly tokens: number;
  readonly lossTokens: number;
  /** The config used, with completion_only_loss resolved for this data. */
  readonly config: ResolvedSftDataConfig & { readonly completionOnlyLoss: boolean };
}

/** Prepared rows and the report. */
export interface PreparedDataset {
  readonly examples: PreparedExample[];
  readonly stats: PreparationStats;
}

/** The tokenizer and, for conversational data, its chat templates. */
export interface DataTokenizer {
  readonly tokenizer: Tokenizer;
  readonly chatTemplates?: ChatTemplates;
}

interface Tokenized {
  readonly line: number;
  readonly inputIds: number[];
  readonly labels: number[];
}

function labelsFrom(ids: readonly number[], masks: (readonly number[] | undefined)[]): number[] {
  const used = masks.filter((m): m is readonly number[] => m !== undefined);
  return ids.map((id, t) => (used.every((m) => m[t] === 1) ? id : IGNORE_INDEX));
}

/** Steps 1 to 3 for one record: ids and labels, before truncation. */
function tokenizeRecord(
  r: SftRecord,
  tok: Tokenizer,
  template: ChatTemplate | undefined,
  cfg: ResolvedSftDataConfig & { completionOnlyLoss: boolean },
  eos: string,
  onMismatch: () => void,
): Tokenized {
  const aol = cfg.assistantOnlyLoss;
  const chat = (messages: ChatMessage[], opts: { addGenerationPrompt?: boolean; mask?: boolean; tools?: unknown[]; kwargs?: Record<string, unknown> }) =>
    applyChatTemplate(tok, template!, messages, { addGenerationPrompt: opts.addGenerationPrompt, tools: opts.tools, extra: opts.kwargs, returnAssistantTokensMask: opts.mask });
  switch (r.kind) {
    case 'text': {
      const text = r.text.endsWith(eos) ? r.text : r.text + eos;
      const ids = tok.encode(text);
      return { line: r.line, inputIds: ids, labels: [...ids] };
    }
    case 'messages': {
      const enc = chat(r.messages, { mask: aol, tools: r.tools, kwargs: r.templateKwargs });
      return { line: r.line, inputIds: enc.ids, labels: labelsFrom(enc.ids, [enc.assistantMask]) };
    }
    case 'prompt-completion':
    case 'prompt-completion-conversational': {
      let promptIds: number[];
      let ids: number[];
      let assistant: number[] | undefined;
      if (r.kind === 'prompt-completion') {
        const completion = r.completion.endsWith(eos) ? r.completion : r.completion + eos;
        promptIds = tok.encode(r.prompt);
        ids = tok.encode(r.prompt + completion);
      } else {
        promptIds = chat(r.prompt, { addGenerationPrompt: true, tools: r.tools, kwargs: r.templateKwargs }).ids;
        const enc = chat([...r.prompt, ...r.completion], { mask: aol, tools: r.tools, kwargs: r.templateKwargs });
        ids = enc.ids;
        assistant = enc.assistantMask;
      }
      if (promptIds.some((id, t) => ids[t] !== id)) onMismatch();
      const completionMask = ids.map((_, t) => (t < promptIds.length ? 0 : 1));
      return { line: r.line, inputIds: ids, labels: labelsFrom(ids, [cfg.completionOnlyLoss ? completionMask : undefined, assistant]) };
    }
    case 'tokenized': {
      const labels = r.labels ? [...r.labels] : labelsFrom(r.inputIds, [cfg.completionOnlyLoss ? r.completionMask : undefined, r.assistantMasks]);
      return { line: r.line, inputIds: [...r.inputIds], labels };
    }
  }
}

/** A row of one example. */
function single(t: Tokenized): PreparedExample {
  return {
    inputIds: t.inputIds,
    labels: t.labels,
    positionIds: t.inputIds.map((_, i) => i),
    lossMask: t.labels.map((l) => (l === IGNORE_INDEX ? 0 : 1)),
    seqLengths: [t.inputIds.length],
    lines: [t.line],
  };
}

/** A packed row: examples concatenated, positions restarting, each example's first label -100. */
function packedRow(parts: readonly Tokenized[]): PreparedExample {
  const inputIds: number[] = [];
  const labels: number[] = [];
  const positionIds: number[] = [];
  for (const p of parts) {
    p.inputIds.forEach((id, i) => {
      inputIds.push(id);
      labels.push(i === 0 ? IGNORE_INDEX : p.labels[i]);
      positionIds.push(i);
    });
  }
  return { inputIds, labels, positionIds, lossMask: labels.map((l) => (l === IGNORE_INDEX ? 0 : 1)), seqLengths: parts.map((p) => p.inputIds.length), lines: parts.map((p) => p.line) };
}

/**
 * Prepare parsed records for SFT (see the file comment). `source` names the data in errors.
 * Throws DataConfigError for options this data cannot use, ModelFileError for a missing chat
 * template, and DataFileError ("empty") when no example is left.
 */
export function prepareSftDataset(
  format: SftFormat,
  records: readonly SftRecord[],
  { tokenizer, chatTemplates }: DataTokenizer,
  options: SftDataConfig = {},
  source = 'data',
): PreparedDataset {
  const base = resolveSftDataConfig(options);
  const cfg = { ...base, completionOnlyLoss: base.completionOnlyLoss ?? (format === 'prompt-completion' || format === 'prompt-completion-conversational') };
  if (cfg.maxLength !== null && (!Number.isSafeInteger(cfg.maxLength) || cfg.maxLength < 1)) throw new DataConfigError('max_length', 'a positive integer or null', String(cfg.maxLength));
  if (cfg.packing && cfg.maxLength === null) throw new DataConfigError('packing', 'max_length set (packed rows hold max_length tokens)', 'max_length null');
  if (cfg.assistantOnlyLoss && !isConversational(format)) {
    throw new DataConfigError('assistant_only_loss', 'conversational data (messages, or prompt/completion as message lists)', `${format} data in ${source}`);
  }
  let template: ChatTemplate | undefined;
  if (isConversational(format)) {
    template = selectChatTemplate(chatTemplates ?? new Map(), tokenizer.source, cfg.chatTemplateName);
    if (cfg.assistantOnlyLoss && !template.hasGeneration) {
      throw new DataConfigError(
        'assistant_only_loss',
        `a chat template with {% generation %} … {% endgeneration %} around assistant replies (${template.where})`,
        'a template without generation blocks (TRL would swap in a training template for known families; kvant does not: pass a template with the markers)',
      );
    }
  }
  const eos = cfg.eosToken ?? tokenizer.eosToken;
  if (eos === undefined && (format === 'text' || format === 'prompt-completion')) {
    throw new DataConfigError(`${tokenizer.source}/tokenizer_config.json`, 'an eos_token (appended to plain text and completions)', 'none set (pass eos_token)');
  }

  let promptMismatch = 0;
  let truncated = 0;
  let truncatedTokens = 0;
  const droppedLines: number[] = [];
  const kept: Tokenized[] = [];
  for (const r of records) {
    let t = tokenizeRecord(r, tokenizer, template, cfg, eos ?? '', () => promptMismatch++);
    if (cfg.maxLength !== null && t.inputIds.length > cfg.maxLength) {
      truncated++;
      truncatedTokens += t.inputIds.length - cfg.maxLength;
      t = { line: t.line, inputIds: t.inputIds.slice(0, cfg.maxLength), labels: t.labels.slice(0, cfg.maxLength) };
    }
    if (!t.labels.some((l) => l !== IGNORE_INDEX)) {
      droppedLines.push(t.line);
      continue;
    }
    kept.push(t);
  }
  if (kept.length === 0) {
    throw new DataFileError(
      'empty',
      source,
      undefined,
      'at least one example with a loss-carrying token after masking and truncation',
      `none of ${records.length} record(s): every label is -100 (lines ${droppedLines.slice(0, 10).join(', ')}${droppedLines.length > 10 ? ', …' : ''})`,
    );
  }

  let examples: PreparedExample[];
  if (cfg.packing) {
    examples = [];
    for (let g = 0; g < kept.length; g += cfg.packingGroupSize) {
      const group = kept.slice(g, g + cfg.packingGroupSize);
      for (const bin of packBestFitDecreasing(
        group.map((t) => t.inputIds.length),
        cfg.maxLength!,
      )) {
        examples.push(packedRow(bin.map((i) => group[i])));
      }
    }
  } else {
    examples = kept.map(single);
  }
  const tokens = examples.reduce((n, e) => n + e.inputIds.length, 0);
  const lossTokens = examples.reduce((n, e) => n + e.lossMask.reduce((a, b) => a + b, 0), 0);
  return {
    examples,
    stats: {
      format,
      records: records.length,
      examples: kept.length,
      rows: examples.length,
      truncated,
      truncatedTokens,
      droppedNoLoss: droppedLines.length,
      droppedNoLossLines: droppedLines.slice(0, 20),
      promptMismatch,
      tokens,
      lossTokens,
      config: cfg,
    },
  };
}
