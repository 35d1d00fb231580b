/**
 * What `kvant generate` and `kvant chat` share: the sampling flags and their checks, the choice of
 * a runtime that has every kernel generation uses, and loading a model folder with its adapter and
 * tokenizer (the EOS ids of both).
 */
import { ConfigError, type Runtime } from '@kvant/abi';
import { DECODER_CACHE_KERNELS, DECODER_FORWARD_KERNELS, Decoder, type Tokenizer } from '@kvant/model';
import { createRuntime, DEFAULT_RUNTIME, isRuntimeName, RUNTIME_NAMES } from '@kvant/runtimes';
import { intOption, UsageError } from '../command';

/** parseArgs options of the flags both commands take. */
export const GENERATION_FLAGS = {
  model: { type: 'string' },
  adapter: { type: 'string' },
  'max-new-tokens': { type: 'string' },
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  seed: { type: 'string' },
  runtime: { type: 'string' },
} as const;

/** Usage lines of GENERATION_FLAGS but --model and --adapter (`maxNewTokens`: the command's default). */
export function samplingUsage(maxNewTokens: number): string {
  return `  --max-new-tokens N   default ${maxNewTokens}
  --temperature T      0 (the default) is greedy decoding
  --top-k K            keep the K most likely tokens (0, the default: off)
  --top-p P            nucleus sampling mass in (0, 1] (default 1: off)
  --seed S             seed of the sampling (default 0)
  --runtime R          ${RUNTIME_NAMES.join(', ')} (default: ${DEFAULT_RUNTIME}, or reference when ${DEFAULT_RUNTIME} lacks a kernel the decoder needs)`;
}

export interface Sampling {
  readonly maxNewTokens: number;
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;
  readonly seed: number;
}

/** A finite number option with a check, or a UsageError naming `kvant <command> --<name>`. */
export function numberOption(command: string, name: string, value: string | undefined, fallback: number, ok: (x: number) => boolean, expected: string): number {
  if (value === undefined) return fallback;
  const x = Number(value);
  if (value.trim() === '' || !Number.isFinite(x) || !ok(x)) throw new UsageError(`kvant ${command} --${name}`, expected, JSON.stringify(value));
  return x;
}

/** The sampling flags' values, checked. */
export function parseSampling(command: string, values: Partial<Record<keyof typeof GENERATION_FLAGS, string>>, maxNewTokens: number): Sampling {
  return {
    maxNewTokens: intOption(command, 'max-new-tokens', values['max-new-tokens'], maxNewTokens, 0),
    temperature: numberOption(command, 'temperature', values.temperature, 0, (x) => x >= 0, 'a number >= 0 (0: greedy)'),
    topK: intOption(command, 'top-k', values['top-k'], 0, 0),
    topP: numberOption(command, 'top-p', values['top-p'], 1, (x) => x > 0 && x <= 1, 'a number in (0, 1]'),
    seed: intOption(command, 'seed', values.seed, 0, 0, 2 ** 32 - 1),
  };
}

/** Kernels generation dispatches: the decoder's forward, the KV cache's, argmax and sampling. */
const GENERATION_KERNELS = [...DECODER_FORWARD_KERNELS, ...DECODER_CACHE_KERNELS, 'nn.argmax', 'nn.sample'] as const;

/** Start runtime `name`; when it lacks one of `kernels`, dispose it and say which (`<name> cannot run <kernel>: <why>`). */
export async function openRuntimeFor(name: string, kernels: readonly string[], options: { threads?: number } = {}): Promise<Runtime | string> {
  const rt = await createRuntime(name, options);
  const missing = kernels.map((k) => [k, rt.supports(k)] as const).find(([, s]) => s !== true);
  if (!missing) return rt;
  rt.dispose();
  return `${name} cannot run ${missing[0]}: ${missing[1]}`;
}

/** The named runtime, or the default one, falling back to reference when it lacks a kernel (said on stderr). */
export async function chooseRuntime(command: string, name: string | undefined): Promise<Runtime> {
  if (name !== undefined && !isRuntimeName(name)) throw new UsageError(`kvant ${command} --runtime`, `one of ${RUNTIME_NAMES.join(', ')}`, JSON.stringify(name));
  const candidates = name ? [name] : [DEFAULT_RUNTIME, 'reference'];
  let reason = '';
  for (const c of candidates) {
    const rt = await openRuntimeFor(c, GENERATION_KERNELS);
    if (typeof rt !== 'string') return rt;
    reason = rt;
    if (!name) process.stderr.write(`kvant ${command}: ${reason}; using the reference runtime\n`);
  }
  throw new ConfigError(`kvant ${command} --runtime`, 'a runtime with every kernel the decoder uses', reason);
}

/** The model of a folder on a runtime, with its adapter when given, and the EOS ids of the config and the tokenizer. */
export async function loadModel(rt: Runtime, dir: string, adapter: string | undefined, tokenizer: Tokenizer): Promise<{ model: Decoder; eosTokenIds: number[] }> {
  const model = await Decoder.fromFolder(rt, dir);
  if (adapter) await model.loadAdapter(adapter);
  const eos = new Set(model.config.eosTokenIds);
  if (tokenizer.eosTokenId !== undefined) eos.add(tokenizer.eosTokenId);
  return { model, eosTokenIds: [...eos] };
}
