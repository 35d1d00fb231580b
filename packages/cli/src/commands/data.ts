/**
 * `kvant data --model DIR --data FILE [data flags of kvant train] [--json]`: the prepared SFT
 * examples — input ids, labels, position ids, which tokens carry loss, decoded text — exactly as
 * training would see them, prepared with TRL's SFTTrainer semantics and defaults.
 */
import { loadChatTokenizer, type Tokenizer } from '@kvant/model';
import { IGNORE_INDEX, loadSftData, type PreparedDataset, type PreparedExample, type SftDataConfig } from '@kvant/trainer';
import { type Command, intOption, parseCommandArgs, print, UsageError } from '../command';

const USAGE = `usage: kvant data --model DIR --data FILE [--eval-data FILE | --eval-fraction F] [--seed N]
                  [--max-length N] [--packing] [--completion-only-loss | --no-completion-only-loss]
                  [--assistant-only-loss] [--dataset-text-field NAME] [--max-examples N] [--json]

Prints the training examples that kvant train would build from FILE: input_ids, labels (aligned with
input_ids; the loss shifts them), position_ids, loss_mask (1 where a label carries loss) and the
decoded text, after the chat template, EOS, masking, truncation and packing. Flags and defaults are
TRL SFTConfig's (docs/data.md).

  --model DIR                 a Hugging Face folder with tokenizer.json, tokenizer_config.json
                              (and its chat template, for conversational data)
  --data FILE                 JSONL, or a JSON array: records with "text", "messages",
                              "prompt"/"completion" (strings or message lists) or "input_ids"
  --eval-data FILE            a held-out file (same format)
  --eval-fraction F           or hold out this fraction of FILE's records (0 < F < 1; seeded)
  --seed N                    seed of the held-out split (default 42)
  --max-length N              truncate examples to N tokens; packed rows hold N (default 1024)
  --packing                   pack examples into rows, best-fit decreasing (default off)
  --completion-only-loss      loss on completions only; default: on for prompt/completion data
  --no-completion-only-loss   loss on prompt and completion
  --assistant-only-loss       loss on assistant turns only ({% generation %} blocks; default off)
  --dataset-text-field NAME   the text column (default text)
  --max-examples N            examples to print (default 5 as text, all with --json)
  --json                      print JSON: {"train": {"stats", "examples"}, "eval"?: ...}

Exit status: 0 done, 1 the data, tokenizer or template was refused (naming file and line), 2 a usage error.`;

/** One example as printed: arrays as in transformers, plus decoded text. */
export interface ExampleReport {
  readonly lines: number[];
  readonly seq_lengths: number[];
  readonly input_ids: number[];
  readonly labels: number[];
  readonly position_ids: number[];
  readonly loss_mask: number[];
  readonly text: string;
  /** The decoded spans of loss-carrying tokens. */
  readonly loss_text: string[];
}

/** The decoded runs of tokens that carry loss. */
function lossSpans(e: PreparedExample, tok: Tokenizer): string[] {
  const spans: string[] = [];
  let run: number[] = [];
  e.labels.forEach((l, t) => {
    if (l !== IGNORE_INDEX) run.push(e.inputIds[t]);
    else if (run.length) {
      spans.push(tok.decode(run));
      run = [];
    }
  });
  if (run.length) spans.push(tok.decode(run));
  return spans;
}

export function exampleReport(e: PreparedExample, tok: Tokenizer): ExampleReport {
  return {
    lines: e.lines,
    seq_lengths: e.seqLengths,
    input_ids: e.inputIds,
    labels: e.labels,
    position_ids: e.positionIds,
    loss_mask: e.lossMask,
    text: tok.decode(e.inputIds),
    loss_text: lossSpans(e, tok),
  };
}

function statsLines(name: string, d: PreparedDataset): string[] {
  const s = d.stats;
  const c = s.config;
  return [
    `${name}: ${s.records} record(s), format ${s.format}`,
    `  completion_only_loss ${c.completionOnlyLoss}, assistant_only_loss ${c.assistantOnlyLoss}, packing ${c.packing ? 'bfd' : 'off'}, max_length ${c.maxLength ?? 'none'}`,
    `  ${s.examples} example(s) in ${s.rows} row(s), ${s.tokens} tokens, ${s.lossTokens} carry loss`,
    `  truncated ${s.truncated} (${s.truncatedTokens} tokens cut), dropped without loss ${s.droppedNoLoss}` +
      (s.droppedNoLoss ? ` (lines ${s.droppedNoLossLines.join(', ')}${s.droppedNoLoss > s.droppedNoLossLines.length ? ', …' : ''})` : '') +
      (s.promptMismatch ? `, prompt not a prefix of prompt+completion ${s.promptMismatch}` : ''),
  ];
}

function exampleLines(k: number, r: ExampleReport): string[] {
  const carry = r.loss_mask.reduce((a, b) => a + b, 0);
  const where = r.lines.length === 1 ? `line ${r.lines[0]}` : `lines ${r.lines.join(', ')}, lengths ${r.seq_lengths.join(', ')}`;
  return [
    `example ${k + 1} (${where}): ${r.input_ids.length} tokens, ${carry} carry loss`,
    `  text:         ${JSON.stringify(r.text)}`,
    `  loss on:      ${r.loss_text.map((t) => JSON.stringify(t)).join(' | ') || '(none)'}`,
    `  input_ids:    [${r.input_ids.join(', ')}]`,
    `  labels:       [${r.labels.join(', ')}]`,
    `  position_ids: [${r.position_ids.join(', ')}]`,
    `  loss_mask:    [${r.loss_mask.join(', ')}]`,
  ];
}

export const dataCommand: Command = {
  name: 'data',
  summary: 'show the prepared SFT examples (ids, labels, positions, loss mask, text) as training sees them',
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(
      'data',
      argv,
      {
        model: { type: 'string' },
        data: { type: 'string' },
        'eval-data': { type: 'string' },
        'eval-fraction': { type: 'string' },
        seed: { type: 'string' },
        'max-length': { type: 'string' },
        packing: { type: 'boolean' },
        'completion-only-loss': { type: 'boolean' },
        'no-completion-only-loss': { type: 'boolean' },
        'assistant-only-loss': { type: 'boolean' },
        'dataset-text-field': { type: 'string' },
        'max-examples': { type: 'string' },
        json: { type: 'boolean' },
      },
      false,
    );
    if (positionals.length) throw new UsageError('kvant data', 'flags only', positionals.join(' '));
    if (!values.model) throw new UsageError('kvant data --model', 'a model folder with tokenizer.json', 'none');
    if (!values.data) throw new UsageError('kvant data --data', 'a JSONL or JSON data file', 'none');
    if (values['completion-only-loss'] && values['no-completion-only-loss']) {
      throw new UsageError('kvant data', 'one of --completion-only-loss and --no-completion-only-loss', 'both');
    }
    if (values['eval-data'] !== undefined && values['eval-fraction'] !== undefined) throw new UsageError('kvant data', 'one of --eval-data and --eval-fraction', 'both');
    let evalFraction: number | undefined;
    if (values['eval-fraction'] !== undefined) {
      evalFraction = Number(values['eval-fraction']);
      if (!(evalFraction > 0 && evalFraction < 1)) throw new UsageError('kvant data --eval-fraction', 'a number between 0 and 1 (exclusive)', JSON.stringify(values['eval-fraction']));
    }
    const seed = intOption('data', 'seed', values.seed, 42, 0, 2 ** 32 - 1);
    const maxExamples = intOption('data', 'max-examples', values['max-examples'], values.json ? Number.MAX_SAFE_INTEGER : 5, 0);
    const config: SftDataConfig = {
      maxLength: intOption('data', 'max-length', values['max-length'], 1024),
      packing: values.packing ?? false,
      completionOnlyLoss: values['completion-only-loss'] ? true : values['no-completion-only-loss'] ? false : null,
      assistantOnlyLoss: values['assistant-only-loss'] ?? false,
      datasetTextField: values['dataset-text-field'] ?? 'text',
    };
    const tok = await loadChatTokenizer(values.model);
    const data = await loadSftData({ data: values.data, evalData: values['eval-data'], evalFraction, seed }, tok, config);
    const splits: [string, PreparedDataset][] = [[`train (${values.data})`, data.train]];
    if (data.eval) splits.push([`eval (${values['eval-data'] ?? `${evalFraction} of ${values.data}, seed ${seed}`})`, data.eval]);
    if (values.json) {
      const split = (d: PreparedDataset) => ({ stats: d.stats, examples: d.examples.slice(0, maxExamples).map((e) => exampleReport(e, tok.tokenizer)) });
      print(JSON.stringify({ train: split(data.train), ...(data.eval ? { eval: split(data.eval) } : {}) }, null, 1));
      return 0;
    }
    const out: string[] = [];
    for (const [name, d] of splits) {
      out.push(...statsLines(name, d), '');
      d.examples.slice(0, maxExamples).forEach((e, k) => {
        out.push(...exampleLines(k, exampleReport(e, tok.tokenizer)), '');
      });
      if (d.examples.length > maxExamples) out.push(`… ${d.examples.length - maxExamples} more row(s) (--max-examples N, or --json for all)`, '');
    }
    print(out.join('\n').trimEnd());
    return 0;
  },
};
