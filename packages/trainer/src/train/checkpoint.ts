/**
 * Checkpoints: everything a run needs to continue exactly as if it had never stopped, in one folder
 * `checkpoint-<step>` built under a temporary name and renamed into place (a crash, a full disk or a
 * SIGKILL while saving leaves the previous checkpoint as it was, and at most a temporary that the
 * next run removes):
 *
 *   adapter_config.json, adapter_model.safetensors   the adapter in PEFT's format (LoRA runs), or
 *   model.safetensors                                every trained weight by Hugging Face name (--full)
 *   optimizer.safetensors                            the optimizer's state (@kvant/optim's format)
 *   trainer_state.json                               step, data position, scheduler step, dropout
 *                                                    counters, log history, and the run's fingerprint
 *
 * The fingerprint (the model's config, the options that shape the trajectory, the data files' hashes)
 * is compared on resume: a checkpoint of another model, other data or other flags is refused,
 * naming the first field that differs.
 */
import { createHash } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, downloadF32, FormatError, type Runtime, type Tensor } from '@kvant/abi';
import { pathExists, readRegularFile, SafetensorsFile, type TensorToWrite, writeDirAtomic, writeFileAtomic, writeSafetensors } from '@kvant/formats';
import type { Optimizer } from '@kvant/optim';

export const TRAINER_STATE_NAME = 'trainer_state.json';
export const OPTIMIZER_STATE_NAME = 'optimizer.safetensors';
export const FULL_WEIGHTS_NAME = 'model.safetensors';
const FORMAT = 'kvant-trainer-state';
const VERSION = 1;

/** One line of the log history (transformers' log_history entries). */
export interface LogEntry {
  readonly step: number;
  readonly epoch: number;
  readonly loss?: number;
  readonly learning_rate?: number;
  readonly grad_norm?: number;
  readonly eval_loss?: number;
  readonly eval_token_accuracy?: number;
  readonly tokens_per_second?: number;
}

/** What trainer_state.json holds. */
export interface TrainerState {
  readonly format: typeof FORMAT;
  readonly version: number;
  /** Optimizer steps done. */
  readonly global_step: number;
  /** The next micro-batch: epoch and index within that epoch's batches. */
  readonly epoch: number;
  readonly batch_in_epoch: number;
  /** Epochs done as a fraction (transformers' state.epoch). */
  readonly epoch_progress: number;
  readonly max_steps: number;
  readonly scheduler_step: number;
  /** LoRA dropout call counters by module (the random state of the run). */
  readonly dropout_calls: Readonly<Record<string, number>>;
  /** Running sums of the current logging window (so resumed logs equal uninterrupted ones). */
  readonly log_window: { readonly loss_sum: number; readonly steps: number; readonly tokens: number };
  readonly tokens_seen: number;
  readonly log_history: readonly LogEntry[];
  readonly fingerprint: Readonly<Record<string, unknown>>;
}

/** A checkpoint that does not fit this run, or cannot be read. */
export class CheckpointError extends FormatError {
  constructor(
    readonly path: string,
    readonly field: string,
    expected: string,
    found: string,
  ) {
    super(`${path}: ${field}`, expected, found);
  }
}

/** Steps of the checkpoint folders in `dir`, ascending (only kvant's: those with a trainer_state.json). */
export async function listCheckpoints(dir: string): Promise<{ step: number; path: string }[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const out: { step: number; path: string }[] = [];
  for (const name of names) {
    const m = /^checkpoint-(\d+)$/.exec(name);
    if (m && (await pathExists(join(dir, name, TRAINER_STATE_NAME)))) out.push({ step: Number(m[1]), path: join(dir, name) });
  }
  return out.sort((a, b) => a.step - b.step);
}

/** Keep the newest `limit` checkpoints; remove older ones (kvant's own folders only). Returns what was removed. */
export async function rotateCheckpoints(dir: string, limit: number | undefined): Promise<string[]> {
  if (limit === undefined) return [];
  const all = await listCheckpoints(dir);
  const old = all.slice(0, Math.max(0, all.length - limit));
  for (const c of old) await rm(c.path, { recursive: true, force: true });
  return old.map((c) => c.path);
}

/** SHA-256 of a file (the data fingerprint). */
export async function fileHash(path: string): Promise<string> {
  return createHash('sha256').update(await readRegularFile(path, 'a data file')).digest('hex');
}

/** What a checkpoint saves: the trained tensors, the optimizer and the state. */
export interface CheckpointContents {
  /** Writes the adapter files (LoRA) into the folder; undefined for full fine-tuning. */
  readonly writeAdapter?: (dir: string) => Promise<void>;
  /** Trained tensors by name (full fine-tuning). */
  readonly weights?: readonly { readonly name: string; readonly param: Tensor }[];
  readonly optimizer: Optimizer<{ lr: number }>;
  readonly state: Omit<TrainerState, 'format' | 'version'>;
}

/** Write `checkpoint-<step>` atomically. */
export async function saveCheckpoint(outputDir: string, c: CheckpointContents): Promise<string> {
  const path = join(outputDir, `checkpoint-${c.state.global_step}`);
  await writeDirAtomic(
    path,
    async (tmp) => {
      if (c.writeAdapter) await c.writeAdapter(tmp);
      if (c.weights) await writeSafetensors(join(tmp, FULL_WEIGHTS_NAME), await hostTensors(c.weights), { metadata: { format: 'pt' } });
      const dict = await c.optimizer.stateDict();
      await writeSafetensors(join(tmp, OPTIMIZER_STATE_NAME), dict.tensors, { metadata: dict.metadata });
      const state: TrainerState = { format: FORMAT, version: VERSION, ...c.state };
      await writeFileAtomic(join(tmp, TRAINER_STATE_NAME), `${JSON.stringify(state, null, 1)}\n`);
    },
    { force: true },
  );
  return path;
}

/** Trained tensors read back to the host as F32 safetensors entries. */
export async function hostTensors(list: readonly { readonly name: string; readonly param: Tensor }[]): Promise<[string, TensorToWrite][]> {
  const out: [string, TensorToWrite][] = [];
  for (const { name, param } of list) out.push([name, { dtype: 'F32', shape: [...param.shape], data: await downloadF32(param) }]);
  return out;
}

/** Read and check trainer_state.json of a checkpoint folder. */
export async function readTrainerState(dir: string): Promise<TrainerState> {
  const path = join(dir, TRAINER_STATE_NAME);
  if (!(await pathExists(path))) throw new CheckpointError(dir, TRAINER_STATE_NAME, 'a kvant checkpoint folder (with trainer_state.json)', 'no such file');
  let state: TrainerState;
  try {
    state = JSON.parse((await readRegularFile(path, 'a trainer_state.json')).toString('utf8'));
  } catch (e) {
    throw new CheckpointError(path, 'contents', 'JSON', (e as Error).message);
  }
  if (state?.format !== FORMAT) throw new CheckpointError(path, 'format', JSON.stringify(FORMAT), JSON.stringify(state?.format));
  if (state.version !== VERSION) throw new CheckpointError(path, 'version', String(VERSION), String(state.version));
  for (const k of ['global_step', 'epoch', 'batch_in_epoch', 'scheduler_step', 'tokens_seen'] as const) {
    if (!Number.isSafeInteger(state[k]) || state[k] < 0) throw new CheckpointError(path, k, 'an integer >= 0', String(state[k]));
  }
  return state;
}

/** Refuse a checkpoint whose fingerprint differs from this run's, naming the first field. */
export function checkFingerprint(path: string, saved: Readonly<Record<string, unknown>>, mine: Readonly<Record<string, unknown>>): void {
  for (const key of new Set([...Object.keys(mine), ...Object.keys(saved ?? {})])) {
    const a = JSON.stringify(mine[key] ?? null);
    const b = JSON.stringify(saved?.[key] ?? null);
    if (a !== b) throw new CheckpointError(path, `fingerprint.${key}`, `${a} (this run)`, `${b} (the checkpoint's run)`);
  }
}

/** Upload the trained tensors of a checkpoint into the run's params (same names, shapes and dtype). */
export async function loadTensorsInto(rt: Runtime, file: string, params: readonly { readonly name: string; readonly param: Tensor }[], keyOf: (name: string) => string = (n) => n): Promise<void> {
  const st = await SafetensorsFile.open(file);
  try {
    const infos = new Map(st.list().map((i) => [i.name, i]));
    for (const p of params) {
      const key = keyOf(p.name);
      const info = infos.get(key);
      if (!info) throw new CheckpointError(file, key, `tensor ${key}`, 'no such tensor');
      if (info.dtype !== 'F32' || info.shape.join(',') !== p.param.shape.join(',')) {
        throw new CheckpointError(file, key, `F32 [${p.param.shape.join(', ')}]`, `${info.dtype} [${info.shape.join(', ')}]`);
      }
      const bytes = await st.readBytes(key);
      rt.write(p.param, new Float32Array(bytes.buffer, bytes.byteOffset, p.param.size).slice());
    }
  } finally {
    await st.close();
  }
}

/** The checkpoint a `--resume-from-checkpoint` value names ("last": the newest in the output folder). */
export async function resolveCheckpoint(outputDir: string, value: string): Promise<string> {
  if (value !== 'last' && value !== 'true') return value;
  const all = await listCheckpoints(outputDir);
  if (all.length === 0) throw new ConfigError('resume_from_checkpoint', `a checkpoint-N folder in ${outputDir}`, 'none');
  return all[all.length - 1].path;
}
