/**
 * Options of SFT data preparation, named and defaulted as TRL's `SFTConfig` (camelCase here,
 * kebab-case on the command line), so data prepared with no options is what `SFTTrainer` prepares.
 */

/** Data options (every field optional; `resolveSftDataConfig` fills TRL's defaults). */
export interface SftDataConfig {
  /** Longest sequence in tokens; longer examples are cut to their first max_length tokens (`truncation_mode="keep_start"`), and packed rows hold at most this many. null: no limit (not with packing). Default 1024. */
  readonly maxLength?: number | null;
  /** Pack several examples into each row of max_length tokens (best-fit decreasing), positions restarting per example. Default false. */
  readonly packing?: boolean;
  /** Only "bfd" (best-fit decreasing, TRL's default): sequences are truncated, never split. */
  readonly packingStrategy?: 'bfd';
  /** Examples per packing group: TRL packs inside each `datasets.map` batch, 1000 rows by default. */
  readonly packingGroupSize?: number;
  /** Loss only on the completion of prompt/completion data. null (default): true for prompt/completion data, false otherwise. */
  readonly completionOnlyLoss?: boolean | null;
  /** Loss only on assistant turns (`{% generation %}` blocks of the chat template); conversational data only. Default false. */
  readonly assistantOnlyLoss?: boolean;
  /** The column holding plain text. Default "text". */
  readonly datasetTextField?: string;
  /** The EOS appended to plain text and completions; default the tokenizer's eos_token. */
  readonly eosToken?: string;
  /** A named chat template of the tokenizer (default: its only one or "default"). */
  readonly chatTemplateName?: string;
}

/** The config with every default filled (completionOnlyLoss still null until the data's format is known). */
export interface ResolvedSftDataConfig {
  readonly maxLength: number | null;
  readonly packing: boolean;
  readonly packingStrategy: 'bfd';
  readonly packingGroupSize: number;
  readonly completionOnlyLoss: boolean | null;
  readonly assistantOnlyLoss: boolean;
  readonly datasetTextField: string;
  readonly eosToken: string | undefined;
  readonly chatTemplateName: string | undefined;
}

/** TRL's SFTConfig defaults for the data options (trl 1.13). */
export const SFT_DATA_DEFAULTS: ResolvedSftDataConfig = {
  maxLength: 1024,
  packing: false,
  packingStrategy: 'bfd',
  packingGroupSize: 1000,
  completionOnlyLoss: null,
  assistantOnlyLoss: false,
  datasetTextField: 'text',
  eosToken: undefined,
  chatTemplateName: undefined,
};

/** Fill TRL's defaults. */
export function resolveSftDataConfig(config: SftDataConfig = {}): ResolvedSftDataConfig {
  const out = { ...SFT_DATA_DEFAULTS };
  for (const [k, v] of Object.entries(config)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
