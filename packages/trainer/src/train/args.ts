/**
 * The options of a training run, in one table: each has the snake_case key of PEFT's `LoraConfig` /
 * TRL's `SFTConfig` / transformers' `TrainingArguments` (the key of a `--config` file), the
 * kebab-case flag of `kvant train`, a type, a default and a line of help. The CLI builds its parser
 * and `--help` from this table, the config-file reader checks keys and types against it, and
 * `resolveTrainArgs` fills the defaults, so a flag, its config key and its documented default
 * cannot drift apart.
 *
 * Defaults are TRL's (SFTConfig, and its CLI's ModelConfig for LoRA: r 16, alpha 32, dropout 0.05),
 * with two departures, both printed by `--help`: the learning rate is 2e-4 with an adapter (TRL's
 * docs advise about 10x its 2e-5 for LoRA; 2e-5 stays the default of --full), and the base is
 * quantized to NF4 unless --quant-type none or --full (kvant is a QLoRA trainer).
 */
import { ConfigError } from '@kvant/abi';

export type OptionType = 'string' | 'int' | 'float' | 'bool' | 'list' | 'nullable-bool';

/** One option. */
export interface TrainOption {
  /** Config-file key (snake_case). */
  readonly key: string;
  /** Command-line flag without the dashes. */
  readonly flag: string;
  readonly type: OptionType;
  /** The default (undefined: none; a function of the other options for context-dependent ones). */
  readonly default?: unknown;
  /** Allowed values of a string option. */
  readonly choices?: readonly string[];
  /** Smallest allowed number. */
  readonly min?: number;
  readonly help: string;
  /** Shown instead of the default value in --help. */
  readonly defaultText?: string;
  readonly group: 'paths' | 'lora' | 'quant' | 'optim' | 'data' | 'loop' | 'output' | 'runtime';
}

const opt = (o: TrainOption) => o;

/** Every option of `kvant train` and of a `--config` file. */
export const TRAIN_OPTIONS: readonly TrainOption[] = [
  opt({ key: 'model', flag: 'model', type: 'string', group: 'paths', help: 'a Hugging Face model folder (config.json, safetensors, tokenizer), dense or a bitsandbytes 4-bit folder' }),
  opt({ key: 'data', flag: 'data', type: 'string', group: 'paths', help: 'training data: JSONL or a JSON array of text / messages / prompt+completion / input_ids records' }),
  opt({ key: 'eval_data', flag: 'eval-data', type: 'string', group: 'paths', help: 'held-out data in the same format' }),
  opt({ key: 'eval_fraction', flag: 'eval-fraction', type: 'float', group: 'paths', help: 'or hold out this fraction of --data (0 < F < 1, split with --seed)' }),
  opt({ key: 'output_dir', flag: 'output-dir', type: 'string', group: 'paths', help: 'where the adapter (or the model), checkpoints, loss curve and README go' }),
  opt({ key: 'overwrite_output_dir', flag: 'overwrite-output-dir', type: 'bool', default: false, group: 'paths', help: "write into an --output-dir that holds another run (kvant's own checkpoints in it are removed; nothing else is)" }),
  opt({ key: 'resume_from_checkpoint', flag: 'resume-from-checkpoint', type: 'string', group: 'paths', help: 'continue from a checkpoint folder, or "last" (the newest checkpoint-N in --output-dir)' }),
  opt({ key: 'adapter', flag: 'adapter', type: 'string', group: 'paths', help: 'continue training an existing PEFT adapter folder' }),

  opt({ key: 'full', flag: 'full', type: 'bool', default: false, group: 'lora', help: 'full fine-tuning: train every weight (a dense f32 base, no adapter)' }),
  opt({ key: 'lora_r', flag: 'lora-r', type: 'int', default: 16, min: 1, group: 'lora', help: 'LoRA rank r' }),
  opt({ key: 'lora_alpha', flag: 'lora-alpha', type: 'float', default: 32, group: 'lora', help: 'LoRA alpha (scaling alpha/r, or alpha/sqrt(r) with rsLoRA)' }),
  opt({ key: 'lora_dropout', flag: 'lora-dropout', type: 'float', default: 0.05, min: 0, group: 'lora', help: 'dropout on the LoRA branch input' }),
  opt({
    key: 'target_modules',
    flag: 'target-modules',
    type: 'list',
    group: 'lora',
    defaultText: "PEFT's default for the architecture",
    help: 'comma-separated module names, "all-linear" (every linear layer but the output head), or a regular expression',
  }),
  opt({ key: 'use_rslora', flag: 'use-rslora', type: 'bool', default: false, group: 'lora', help: 'rank-stabilized scaling alpha/sqrt(r)' }),
  opt({ key: 'use_dora', flag: 'use-dora', type: 'bool', default: false, group: 'lora', help: 'DoRA: a trained magnitude per output feature' }),

  opt({ key: 'quant_type', flag: 'quant-type', type: 'string', choices: ['nf4', 'fp4', 'none'], group: 'quant', defaultText: 'nf4 (none with --full)', help: 'quantize the frozen base on load (a 4-bit folder stays as stored)' }),
  opt({ key: 'base_dtype', flag: 'base-dtype', type: 'string', default: 'f32', choices: ['f32', 'bf16', 'f16'], group: 'quant', help: "storage of a dense base's linear weights with --quant-type none (bf16/f16: half the bytes, a bf16 checkpoint kept as stored)" }),
  opt({ key: 'double_quant', flag: 'double-quant', type: 'bool', default: false, group: 'quant', help: 'double quantization: the absmax values in 8 bits' }),
  opt({ key: 'blocksize', flag: 'blocksize', type: 'int', default: 64, min: 16, group: 'quant', help: 'weights per absmax block' }),

  opt({ key: 'optim', flag: 'optim', type: 'string', default: 'adamw', choices: ['adamw', 'adamw_8bit', 'sgd'], group: 'optim', help: "optimizer: PyTorch's AdamW, bitsandbytes' 8-bit blockwise AdamW, or SGD" }),
  opt({ key: 'learning_rate', flag: 'learning-rate', type: 'float', min: 0, group: 'optim', defaultText: '2e-4 with an adapter, 2e-5 with --full', help: 'peak learning rate' }),
  opt({ key: 'lr_scheduler_type', flag: 'lr-scheduler-type', type: 'string', default: 'linear', choices: ['linear', 'cosine', 'constant', 'constant_with_warmup'], group: 'optim', help: 'learning-rate schedule' }),
  opt({ key: 'warmup_steps', flag: 'warmup-steps', type: 'int', default: 0, min: 0, group: 'optim', help: 'linear warmup steps (wins over --warmup-ratio)' }),
  opt({ key: 'warmup_ratio', flag: 'warmup-ratio', type: 'float', default: 0, min: 0, group: 'optim', help: 'warmup as a fraction of the total steps' }),
  opt({ key: 'weight_decay', flag: 'weight-decay', type: 'float', default: 0, min: 0, group: 'optim', help: 'decoupled weight decay (not on biases and norms)' }),
  opt({ key: 'adam_beta1', flag: 'adam-beta1', type: 'float', default: 0.9, min: 0, group: 'optim', help: 'AdamW beta1 (SGD: momentum)' }),
  opt({ key: 'adam_beta2', flag: 'adam-beta2', type: 'float', default: 0.999, min: 0, group: 'optim', help: 'AdamW beta2' }),
  opt({ key: 'adam_epsilon', flag: 'adam-epsilon', type: 'float', default: 1e-8, min: 0, group: 'optim', help: 'AdamW epsilon' }),
  opt({ key: 'max_grad_norm', flag: 'max-grad-norm', type: 'float', default: 1, min: 0, group: 'optim', help: 'clip the global gradient norm (0: no clipping)' }),

  opt({ key: 'max_length', flag: 'max-length', type: 'int', default: 1024, min: 1, group: 'data', help: 'truncate examples to this many tokens; packed rows hold this many' }),
  opt({ key: 'packing', flag: 'packing', type: 'bool', default: false, group: 'data', help: 'pack examples into rows (best-fit decreasing, no attention across examples)' }),
  opt({ key: 'completion_only_loss', flag: 'completion-only-loss', type: 'nullable-bool', group: 'data', defaultText: 'on for prompt/completion data', help: 'loss on completions only (--no-completion-only-loss: on everything)' }),
  opt({ key: 'assistant_only_loss', flag: 'assistant-only-loss', type: 'bool', default: false, group: 'data', help: 'loss on assistant turns only (needs {% generation %} in the chat template)' }),
  opt({ key: 'dataset_text_field', flag: 'dataset-text-field', type: 'string', default: 'text', group: 'data', help: 'the text column of plain-text data' }),
  opt({ key: 'shuffle', flag: 'shuffle', type: 'bool', default: true, group: 'data', defaultText: 'on (--no-shuffle: file order)', help: 'shuffle the rows every epoch with --seed' }),

  opt({ key: 'per_device_train_batch_size', flag: 'per-device-train-batch-size', type: 'int', default: 8, min: 1, group: 'loop', help: 'rows per micro-batch' }),
  opt({ key: 'per_device_eval_batch_size', flag: 'per-device-eval-batch-size', type: 'int', default: 8, min: 1, group: 'loop', help: 'rows per evaluation batch' }),
  opt({ key: 'gradient_accumulation_steps', flag: 'gradient-accumulation-steps', type: 'int', default: 1, min: 1, group: 'loop', help: 'micro-batches per optimizer step (loss normalised over all their label tokens)' }),
  opt({ key: 'num_train_epochs', flag: 'num-train-epochs', type: 'float', default: 3, min: 0, group: 'loop', help: 'epochs (ignored when --max-steps > 0)' }),
  opt({ key: 'max_steps', flag: 'max-steps', type: 'int', default: -1, min: -1, group: 'loop', help: 'optimizer steps to run (-1: from the epochs)' }),
  opt({ key: 'gradient_checkpointing', flag: 'gradient-checkpointing', type: 'bool', default: true, group: 'loop', help: "recompute each block's activations in backward (TRL's default; --no-gradient-checkpointing: keep them)" }),
  opt({ key: 'seed', flag: 'seed', type: 'int', default: 42, min: 0, group: 'loop', help: 'seed of the adapter init, dropout, shuffling and the held-out split' }),

  opt({ key: 'logging_steps', flag: 'logging-steps', type: 'int', default: 10, min: 1, group: 'output', help: 'log every N steps' }),
  opt({ key: 'eval_steps', flag: 'eval-steps', type: 'int', min: 1, group: 'output', defaultText: 'at the end only', help: 'evaluate on the held-out data every N steps (and at the end)' }),
  opt({ key: 'save_steps', flag: 'save-steps', type: 'int', default: 500, min: 1, group: 'output', help: 'write a checkpoint every N steps' }),
  opt({ key: 'save_total_limit', flag: 'save-total-limit', type: 'int', min: 1, group: 'output', defaultText: 'keep all', help: 'keep only the newest N checkpoints' }),
  opt({ key: 'json', flag: 'json', type: 'bool', default: false, group: 'output', help: 'one JSON line per logging step on stdout instead of the progress bar' }),

  opt({ key: 'runtime', flag: 'runtime', type: 'string', default: 'auto', choices: ['auto', 'wasm', 'webgpu', 'cuda', 'cuda-emu', 'reference'], group: 'runtime', help: 'auto: cuda, else a hardware WebGPU adapter, else wasm' }),
  opt({ key: 'threads', flag: 'threads', type: 'int', min: 1, group: 'runtime', defaultText: 'the machine\'s cores', help: "the wasm runtime's threads" }),
  opt({
    key: 'profile',
    flag: 'profile',
    type: 'bool',
    default: false,
    group: 'runtime',
    help: 'time every kernel of the training loop and print where the time went (on webgpu and cuda: the host\'s enqueue time only)',
  }),
];

/** Resolved arguments of a run (snake_case, as in the config file and training_args.json). */
export interface TrainArgs {
  readonly model: string;
  readonly data: string;
  readonly eval_data?: string;
  readonly eval_fraction?: number;
  readonly output_dir: string;
  readonly overwrite_output_dir: boolean;
  readonly resume_from_checkpoint?: string;
  readonly adapter?: string;
  readonly full: boolean;
  readonly lora_r: number;
  readonly lora_alpha: number;
  readonly lora_dropout: number;
  readonly target_modules?: readonly string[] | string;
  readonly use_rslora: boolean;
  readonly use_dora: boolean;
  readonly quant_type: 'nf4' | 'fp4' | 'none';
  readonly base_dtype: 'f32' | 'bf16' | 'f16';
  readonly double_quant: boolean;
  readonly blocksize: number;
  readonly optim: 'adamw' | 'adamw_8bit' | 'sgd';
  readonly learning_rate: number;
  readonly lr_scheduler_type: 'linear' | 'cosine' | 'constant' | 'constant_with_warmup';
  readonly warmup_steps: number;
  readonly warmup_ratio: number;
  readonly weight_decay: number;
  readonly adam_beta1: number;
  readonly adam_beta2: number;
  readonly adam_epsilon: number;
  readonly max_grad_norm: number;
  readonly max_length: number;
  readonly packing: boolean;
  readonly completion_only_loss?: boolean;
  readonly assistant_only_loss: boolean;
  readonly dataset_text_field: string;
  readonly shuffle: boolean;
  readonly per_device_train_batch_size: number;
  readonly per_device_eval_batch_size: number;
  readonly gradient_accumulation_steps: number;
  readonly num_train_epochs: number;
  readonly max_steps: number;
  readonly gradient_checkpointing: boolean;
  readonly seed: number;
  readonly logging_steps: number;
  readonly eval_steps?: number;
  readonly save_steps: number;
  readonly save_total_limit?: number;
  readonly json: boolean;
  readonly runtime: 'auto' | 'wasm' | 'webgpu' | 'cuda' | 'cuda-emu' | 'reference';
  readonly threads?: number;
  readonly profile: boolean;
}

export type TrainArgsInput = { readonly [K in keyof TrainArgs]?: TrainArgs[K] | null };

const BY_KEY = new Map(TRAIN_OPTIONS.map((o) => [o.key, o]));

/** Check one value against its option; returns it normalised (lists split on commas). */
export function checkOptionValue(o: TrainOption, value: unknown, where: string): unknown {
  const bad = (expected: string) => new ConfigError(`${where}: ${o.key}`, expected, JSON.stringify(value));
  switch (o.type) {
    case 'string':
      if (typeof value !== 'string' || value === '') throw bad('a non-empty string');
      if (o.choices && !o.choices.includes(value)) throw bad(`one of ${o.choices.join(', ')}`);
      return value;
    case 'bool':
    case 'nullable-bool':
      if (typeof value !== 'boolean') throw bad('true or false');
      return value;
    case 'int':
    case 'float': {
      if (typeof value !== 'number' || !Number.isFinite(value)) throw bad(o.type === 'int' ? 'an integer' : 'a finite number');
      if (o.type === 'int' && !Number.isSafeInteger(value)) throw bad('an integer');
      if (o.min !== undefined && value < o.min) throw bad(`a number >= ${o.min}`);
      return value;
    }
    case 'list': {
      if (Array.isArray(value)) {
        if (value.length === 0 || value.some((v) => typeof v !== 'string' || v === '')) throw bad('a non-empty list of module names');
        return value;
      }
      if (typeof value !== 'string' || value.trim() === '') throw bad('a list of module names, "all-linear" or a regular expression');
      // A regular expression or all-linear stays a string (as LoraConfig takes it); a plain comma list splits.
      if (value === 'all-linear' || /[\\^$.*+?()[\]{}|]/.test(value)) return value;
      return value.split(',').map((s) => s.trim()).filter(Boolean);
    }
  }
}

/**
 * Fill defaults and check a run's arguments (from flags over a config file). Throws ConfigError
 * naming the key, what was expected and what was found.
 */
export function resolveTrainArgs(input: TrainArgsInput, where = 'kvant train'): TrainArgs {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    const o = BY_KEY.get(key);
    if (!o) throw new ConfigError(`${where}: ${key}`, `a known option (${TRAIN_OPTIONS.map((x) => x.key).join(', ')})`, 'an unknown key');
    if (value === undefined || value === null) continue;
    out[key] = checkOptionValue(o, value, where);
  }
  for (const o of TRAIN_OPTIONS) if (out[o.key] === undefined && o.default !== undefined) out[o.key] = o.default;
  for (const key of ['model', 'data', 'output_dir'] as const) {
    if (out[key] === undefined) throw new ConfigError(`${where}: ${key}`, `--${BY_KEY.get(key)!.flag} (or "${key}" in --config)`, 'none');
  }
  const full = out.full as boolean;
  if (out.quant_type === undefined) out.quant_type = full ? 'none' : 'nf4';
  if (full && out.quant_type !== 'none') throw new ConfigError(`${where}: quant_type`, 'none with --full (a 4-bit base cannot be trained)', String(out.quant_type));
  if (out.base_dtype !== 'f32' && out.quant_type !== 'none') throw new ConfigError(`${where}: base_dtype`, 'f32 unless --quant-type none (a 4-bit base has its own storage)', String(out.base_dtype));
  if (full && out.base_dtype !== 'f32') throw new ConfigError(`${where}: base_dtype`, 'f32 with --full (trained weights are f32)', String(out.base_dtype));
  if (full && out.adapter !== undefined) throw new ConfigError(`${where}: adapter`, 'no --adapter with --full', String(out.adapter));
  if (out.learning_rate === undefined) out.learning_rate = full ? 2e-5 : 2e-4;
  if (out.eval_data !== undefined && out.eval_fraction !== undefined) throw new ConfigError(`${where}: eval_data / eval_fraction`, 'one of them', 'both');
  const frac = out.eval_fraction as number | undefined;
  if (frac !== undefined && !(frac > 0 && frac < 1)) throw new ConfigError(`${where}: eval_fraction`, 'a fraction 0 < F < 1', String(frac));
  if ((out.max_steps as number) === 0) throw new ConfigError(`${where}: max_steps`, 'a positive number of steps, or -1 for --num-train-epochs', '0');
  if ((out.max_steps as number) < 0 && !((out.num_train_epochs as number) > 0)) throw new ConfigError(`${where}: num_train_epochs`, 'a positive number of epochs (or --max-steps)', String(out.num_train_epochs));
  for (const k of ['adam_beta1', 'adam_beta2'] as const) if ((out[k] as number) >= 1) throw new ConfigError(`${where}: ${k}`, 'a number in [0, 1)', String(out[k]));
  if ((out.lora_dropout as number) >= 1) throw new ConfigError(`${where}: lora_dropout`, 'a probability in [0, 1)', String(out.lora_dropout));
  if ((out.blocksize as number) & ((out.blocksize as number) - 1)) throw new ConfigError(`${where}: blocksize`, 'a power of two', String(out.blocksize));
  return out as unknown as TrainArgs;
}

/** The option of a config key (for error messages and the CLI). */
export function trainOption(key: string): TrainOption | undefined {
  return BY_KEY.get(key);
}

/**
 * Options whose change makes a checkpoint's trajectory meaningless (checked on resume). The length of
 * the run (max_steps, num_train_epochs) may change: the schedule then follows the new total.
 */
export const TRAJECTORY_KEYS: readonly (keyof TrainArgs)[] = [
  'full',
  'adapter',
  'lora_r',
  'lora_alpha',
  'lora_dropout',
  'target_modules',
  'use_rslora',
  'use_dora',
  'quant_type',
  'base_dtype',
  'double_quant',
  'blocksize',
  'optim',
  'learning_rate',
  'lr_scheduler_type',
  'warmup_steps',
  'warmup_ratio',
  'weight_decay',
  'adam_beta1',
  'adam_beta2',
  'adam_epsilon',
  'max_grad_norm',
  'max_length',
  'packing',
  'completion_only_loss',
  'assistant_only_loss',
  'dataset_text_field',
  'shuffle',
  'per_device_train_batch_size',
  'gradient_accumulation_steps',
  'seed',
];
