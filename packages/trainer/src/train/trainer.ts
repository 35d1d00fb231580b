/**
 * The training loop of `kvant train`: SFT of a LoRA/DoRA adapter on a frozen (4-bit or dense) base,
 * or full fine-tuning, as transformers' Trainer under TRL's SFTTrainer does it:
 *
 *   for each optimizer step: G micro-batches (gradient accumulation) → forward + backward each, the
 *   loss normalised over all label tokens of the G micro-batches (num_items_in_batch) → clip the
 *   global gradient norm → optimizer step → schedule step → zero the gradients.
 *
 * Steps per epoch are ceil(batches / G) (the last group of an epoch may be short); the run lasts
 * max_steps, or ceil(epochs · steps per epoch). Evaluation (mean loss and token accuracy over the
 * held-out rows) runs every eval_steps and at the end. Checkpoints (checkpoint.ts) every save_steps
 * hold what an exact resume needs, so a resumed run writes the same adapter bytes as one that never
 * stopped. A non-finite loss or gradient stops the run naming the step and the tensor; the last good
 * checkpoint is kept. `stop()` (Ctrl-C) ends the run after the current step with a checkpoint.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, KvantError, NonFiniteError, type Runtime } from '@kvant/abi';
import { mkdir } from 'node:fs/promises';
import { pathExists, readRegularFile, writeFileAtomic, writeSafetensors } from '@kvant/formats';
import { writeAdapterFiles } from '@kvant/lora';
import { Decoder, loadChatTokenizer, type ChatTokenizer } from '@kvant/model';
import { AdamW, AdamW8bit, clipGradNorm, LrScheduler, type NamedParam, type Optimizer, type ParamGroup, SGD } from '@kvant/optim';
import { type Batch, makeBatches } from '../data/batch';
import { DataConfigError } from '../data/errors';
import { loadSftData, type SftData } from '../data/load';
import { IGNORE_INDEX } from '../data/prepare';
import { TRAJECTORY_KEYS, type TrainArgs } from './args';
import { writeRunFiles } from './outputs';
import {
  checkFingerprint,
  FULL_WEIGHTS_NAME,
  fileHash,
  hostTensors,
  type LogEntry,
  listCheckpoints,
  loadTensorsInto,
  OPTIMIZER_STATE_NAME,
  readTrainerState,
  resolveCheckpoint,
  rotateCheckpoints,
  saveCheckpoint,
} from './checkpoint';

/** An output folder that holds another run, and neither --overwrite-output-dir nor a resume was asked. */
export class OutputDirError extends ConfigError {}

/** The run stopped on a non-finite loss or gradient. */
export class TrainingDivergedError extends KvantError {
  constructor(
    readonly step: number,
    readonly tensor: string,
    readonly value: number,
    readonly lastCheckpoint: string | undefined,
  ) {
    super('E_NON_FINITE', `step ${step}: ${tensor} is ${value}; training stopped (${lastCheckpoint ? `last good checkpoint: ${lastCheckpoint}` : 'no checkpoint was written yet'})`);
  }
}

/** Memory the run holds on the runtime, by part (bytes). */
export interface TrainMemory {
  readonly base: number;
  readonly trainable: number;
  readonly gradients: number;
  readonly optimizer: number;
  /** Activations of the largest micro-batch (with checkpointing when on). */
  readonly activations: number;
}

/** How the run is laid out. */
export interface TrainPlan {
  readonly trainRows: number;
  readonly evalRows: number;
  readonly batchesPerEpoch: number;
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  readonly warmupSteps: number;
  readonly trainableParameters: string;
}

export type TrainEvent =
  | { readonly kind: 'step'; readonly step: number; readonly totalSteps: number; readonly epoch: number; readonly loss: number; readonly learningRate: number; readonly tokensPerSecond: number; readonly elapsedSeconds: number }
  | { readonly kind: 'log'; readonly entry: LogEntry }
  | { readonly kind: 'eval'; readonly entry: LogEntry }
  | { readonly kind: 'save'; readonly step: number; readonly path: string; readonly removed: readonly string[] }
  | { readonly kind: 'resume'; readonly step: number; readonly path: string };

export interface TrainerHooks {
  /** Called for every event; a returned promise is awaited (a test may read the weights after each step). */
  readonly onEvent?: (e: TrainEvent) => void | Promise<void>;
}

/** What an evaluation measured. */
export interface EvalResult {
  readonly loss: number;
  /** Fraction of label tokens whose argmax prediction is right. */
  readonly tokenAccuracy: number;
  readonly tokens: number;
}

/** How a run ended. */
export interface TrainResult {
  readonly status: 'completed' | 'interrupted';
  readonly globalStep: number;
  readonly trainLoss: number;
  readonly eval?: EvalResult;
  readonly logHistory: readonly LogEntry[];
  readonly seconds: number;
  readonly lastCheckpoint?: string;
}

/** Label tokens after the shift: labels[b, t] != -100 for t >= 1 (what the loss counts). */
export function shiftedLabelTokens(batch: Batch): number {
  let n = 0;
  for (let b = 0; b < batch.rows; b++) for (let t = 1; t < batch.seqLength; t++) if (batch.labels[b * batch.seqLength + t] !== IGNORE_INDEX) n++;
  return n;
}

const F32_MAX = 3.4028234663852886e38;
/** Files of the base model folder a full fine-tune's output keeps beside its weights. */
const MODEL_SIDE_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja'];
const isNorm = (name: string) => /norm/.test(name);

export class Trainer {
  private readonly batchCache = new Map<number, Batch[]>();
  private stopRequested = false;
  private step = 0;
  private epoch = 0;
  private batchInEpoch = 0;
  private tokensSeen = 0;
  private window = { loss_sum: 0, steps: 0, tokens: 0 };
  private history: LogEntry[] = [];
  private lastCheckpoint: string | undefined;
  readonly plan: TrainPlan;

  private constructor(
    readonly runtime: Runtime,
    readonly args: TrainArgs,
    readonly decoder: Decoder,
    readonly tokenizer: ChatTokenizer,
    readonly data: SftData,
    readonly optimizer: Optimizer<{ lr: number }>,
    readonly scheduler: LrScheduler,
    private readonly fingerprint: Record<string, unknown>,
    private readonly hooks: TrainerHooks,
    plan: Omit<TrainPlan, 'trainableParameters'>,
  ) {
    this.plan = { ...plan, trainableParameters: decoder.lora ? decoder.lora.printTrainableParameters(() => {}) : fullParameterLine(decoder) };
  }

  /** Load the model, the data and the adapter; build the optimizer and schedule; check the output folder. */
  static async create(rt: Runtime, args: TrainArgs, hooks: TrainerHooks = {}): Promise<Trainer> {
    await checkOutputDir(args);
    await mkdir(args.output_dir, { recursive: true });
    const tokenizer = await loadChatTokenizer(args.model);
    const data = await loadSftData(
      { data: args.data, evalData: args.eval_data, evalFraction: args.eval_fraction, seed: args.seed },
      tokenizer,
      {
        maxLength: args.max_length,
        packing: args.packing,
        completionOnlyLoss: args.completion_only_loss ?? null,
        assistantOnlyLoss: args.assistant_only_loss,
        datasetTextField: args.dataset_text_field,
      },
    );
    if (data.train.examples.length === 0) {
      throw new DataConfigError(args.data, 'at least one training example with a loss-carrying token', `none (${data.train.stats.records} record(s), ${data.train.stats.droppedNoLoss} without loss after masking)`);
    }
    // A bitsandbytes 4-bit folder (what `kvant quantize` writes) is loaded as stored.
    const modelConfig = JSON.parse((await readRegularFile(join(args.model, 'config.json'), 'a config.json')).toString('utf8'));
    const stored4bit = Boolean(modelConfig?.quantization_config?.load_in_4bit);
    const quant = args.quant_type === 'none' || stored4bit ? undefined : { quantType: args.quant_type, blocksize: args.blocksize, doubleQuant: args.double_quant };
    const decoder = await Decoder.fromFolder(rt, args.model, { quant, checkpointing: args.gradient_checkpointing, baseDtype: args.base_dtype === 'f32' ? undefined : args.base_dtype });
    try {
      if (args.full) decoder.enableFullFineTuning();
      else if (args.adapter) await decoder.loadAdapter(args.adapter, { isTrainable: true });
      else {
        await decoder.addAdapter(
          {
            r: args.lora_r,
            lora_alpha: args.lora_alpha,
            lora_dropout: args.lora_dropout,
            target_modules: args.target_modules ?? null,
            use_rslora: args.use_rslora,
            use_dora: args.use_dora,
            task_type: 'CAUSAL_LM',
          },
          'default',
          { seed: args.seed },
        );
      }
      const params = decoder.trainable();
      const optimizer = makeOptimizer(rt, args, params);
      const batchesPerEpoch = Math.ceil(data.train.examples.length / args.per_device_train_batch_size);
      const stepsPerEpoch = Math.ceil(batchesPerEpoch / args.gradient_accumulation_steps);
      const totalSteps = args.max_steps > 0 ? args.max_steps : Math.max(1, Math.ceil(args.num_train_epochs * stepsPerEpoch));
      const warmupSteps = args.warmup_steps > 0 ? args.warmup_steps : Math.ceil(totalSteps * args.warmup_ratio);
      const scheduler = new LrScheduler(optimizer, args.lr_scheduler_type, { warmupSteps, numTrainingSteps: totalSteps });
      const fingerprint = await runFingerprint(args, decoder, modelConfig);
      return new Trainer(rt, args, decoder, tokenizer, data, optimizer, scheduler, fingerprint, hooks, {
        trainRows: data.train.examples.length,
        evalRows: data.eval?.examples.length ?? 0,
        batchesPerEpoch,
        stepsPerEpoch,
        totalSteps,
        warmupSteps,
      });
    } catch (e) {
      decoder.dispose();
      throw e;
    }
  }

  /** Ask the run to stop after the current step (with a checkpoint). */
  stop(): void {
    this.stopRequested = true;
  }

  /** Bytes on the runtime by part. */
  memory(): TrainMemory {
    const trainable = this.decoder.trainable().reduce((n, t) => n + 4 * t.param.size, 0);
    const longest = Math.max(...this.data.train.examples.map((e) => e.inputIds.length));
    const rows = this.args.packing ? 1 : this.args.per_device_train_batch_size;
    const t = this.args.packing ? longest * this.args.per_device_train_batch_size : longest;
    const base = (this.decoder.loadReport?.deviceBytes ?? 0) - (this.args.full ? trainable : 0);
    return {
      base,
      trainable,
      gradients: trainable,
      optimizer: this.optimizer.stateBytes().total,
      activations: this.decoder.activationMemory(rows, Math.min(t, this.args.packing ? this.args.max_length * rows : t)).savedBytes + this.decoder.loraActivationBytes(rows * t),
    };
  }

  private batches(epoch: number): Batch[] {
    let b = this.batchCache.get(epoch);
    if (!b) {
      const pad = this.tokenizer.tokenizer.padTokenId ?? this.tokenizer.tokenizer.eosTokenId ?? 0;
      b = makeBatches(this.data.train.examples, {
        batchSize: this.args.per_device_train_batch_size,
        shuffle: this.args.shuffle,
        seed: this.args.seed,
        epoch,
        padTokenId: pad,
        paddingFree: this.args.packing,
      });
      this.batchCache.clear();
      this.batchCache.set(epoch, b);
    }
    return b;
  }

  /** Continue from a checkpoint folder (or "last"): weights, optimizer, schedule, data position, random state. */
  async resume(value: string): Promise<string> {
    const path = await resolveCheckpoint(this.args.output_dir, value);
    const state = await readTrainerState(path);
    checkFingerprint(path, state.fingerprint, this.fingerprint);
    const params = this.decoder.trainable();
    if (this.args.full) await loadTensorsInto(this.runtime, join(path, FULL_WEIGHTS_NAME), params);
    else await loadTensorsInto(this.runtime, join(path, 'adapter_model.safetensors'), params);
    await this.optimizer.loadState(join(path, OPTIMIZER_STATE_NAME));
    this.scheduler.loadState({ step: state.scheduler_step });
    for (const [module, layer] of this.decoder.lora?.layers ?? []) layer.dropoutCalls = state.dropout_calls[module] ?? 0;
    this.step = state.global_step;
    this.epoch = state.epoch;
    this.batchInEpoch = state.batch_in_epoch;
    this.tokensSeen = state.tokens_seen;
    this.window = { ...state.log_window };
    this.history = [...state.log_history];
    this.lastCheckpoint = path;
    await this.hooks.onEvent?.({ kind: 'resume', step: this.step, path });
    return path;
  }

  /** Mean loss and token accuracy over the held-out rows (no dropout, no gradients). */
  async evaluate(): Promise<EvalResult | undefined> {
    const evalData = this.data.eval;
    if (!evalData || evalData.examples.length === 0) return undefined;
    const pad = this.tokenizer.tokenizer.padTokenId ?? this.tokenizer.tokenizer.eosTokenId ?? 0;
    const batches = makeBatches(evalData.examples, { batchSize: this.args.per_device_eval_batch_size, shuffle: false, padTokenId: pad, paddingFree: this.args.packing });
    const rt = this.runtime;
    let lossSum = 0;
    let tokens = 0;
    let correct = 0;
    for (const batch of batches) {
      const out = await this.decoder.forward(toModelBatch(batch), { training: false });
      if (out.labelTokens === 0) continue;
      lossSum += (out.loss ?? 0) * out.labelTokens;
      tokens += out.labelTokens;
      const m = batch.rows * batch.seqLength;
      const ids = rt.alloc('i32', [m]);
      try {
        rt.dispatch('nn.argmax', { x: out.logits, ids }, { n: m, v: this.decoder.config.vocab });
        const bytes = await rt.read(ids);
        const pred = new Int32Array(bytes.buffer, bytes.byteOffset, m);
        const T = batch.seqLength;
        for (let b = 0; b < batch.rows; b++) {
          for (let t = 0; t + 1 < T; t++) {
            const label = batch.labels[b * T + t + 1];
            if (label !== IGNORE_INDEX && pred[b * T + t] === label) correct++;
          }
        }
      } finally {
        rt.free(ids);
      }
    }
    return { loss: tokens ? lossSum / tokens : Number.NaN, tokenAccuracy: tokens ? correct / tokens : 0, tokens };
  }

  /** Run to max_steps (or until stop()). */
  async train(): Promise<TrainResult> {
    const started = Date.now();
    const a = this.args;
    const total = this.plan.totalSteps;
    let lastLoss = Number.NaN;
    let tokensThisRun = 0;
    while (this.step < total && !this.stopRequested) {
      let epochBatches = this.batches(this.epoch);
      if (this.batchInEpoch >= epochBatches.length) {
        this.epoch++;
        this.batchInEpoch = 0;
        epochBatches = this.batches(this.epoch);
      }
      const group = epochBatches.slice(this.batchInEpoch, this.batchInEpoch + a.gradient_accumulation_steps);
      const divisor = group.reduce((n, b) => n + shiftedLabelTokens(b), 0);
      const step = this.step + 1;
      let lossSum = 0;
      let tokens = 0;
      try {
        for (let i = 0; i < group.length; i++) {
          const out = await this.decoder.forward(toModelBatch(group[i]), { training: true });
          tokens += group[i].attentionMask.reduce((n, v) => n + v, 0);
          if (out.labelTokens === 0) continue;
          lossSum += (out.loss ?? 0) * out.labelTokens;
          await this.decoder.backward({ accumulate: i > 0, divisor: Math.max(1, divisor) });
        }
        const gradNorm = await clipGradNorm(this.runtime, this.optimizer.namedGrads(), a.max_grad_norm > 0 ? a.max_grad_norm : F32_MAX, 2, { errorIfNonfinite: true, step });
        if (divisor > 0) this.optimizer.step();
        this.optimizer.zeroGrad();
        this.scheduler.step();
        this.window.loss_sum += divisor ? lossSum / divisor : 0;
        this.window.steps += 1;
        this.window.tokens += tokens;
        lastLoss = divisor ? lossSum / divisor : lastLoss;
        this.step = step;
        this.batchInEpoch += group.length;
        this.tokensSeen += tokens;
        tokensThisRun += tokens;
        const elapsed = (Date.now() - started) / 1000;
        const epochProgress = this.epochProgress();
        await this.hooks.onEvent?.({
          kind: 'step',
          step,
          totalSteps: total,
          epoch: epochProgress,
          loss: lastLoss,
          learningRate: this.optimizer.lr(),
          tokensPerSecond: elapsed > 0 ? tokensThisRun / elapsed : 0,
          elapsedSeconds: elapsed,
        });
        if (step % a.logging_steps === 0 || step === total) {
          const entry: LogEntry = {
            step,
            epoch: round(epochProgress),
            loss: round(this.window.loss_sum / this.window.steps),
            learning_rate: this.optimizer.lr(),
            grad_norm: round(gradNorm),
            tokens_per_second: elapsed > 0 ? Math.round(tokensThisRun / elapsed) : 0,
          };
          this.history.push(entry);
          this.window = { loss_sum: 0, steps: 0, tokens: 0 };
          await this.hooks.onEvent?.({ kind: 'log', entry });
        }
        if (a.eval_steps !== undefined && step % a.eval_steps === 0 && step !== total) await this.logEval();
        // Let the event loop run once per step: a synchronous runtime (wasm) would otherwise hold off
        // signals (Ctrl-C sets stopRequested from a handler) until the run ends.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (step % a.save_steps === 0 || (this.stopRequested && step < total)) await this.checkpoint();
      } catch (e) {
        this.optimizer.zeroGrad();
        throw this.diverged(e, step);
      }
    }
    const interrupted = this.step < total;
    const evalResult = interrupted ? undefined : await this.logEval();
    return {
      status: interrupted ? 'interrupted' : 'completed',
      globalStep: this.step,
      trainLoss: mean(this.history.filter((h) => h.loss !== undefined).map((h) => h.loss!)),
      eval: evalResult,
      logHistory: this.history,
      seconds: (Date.now() - started) / 1000,
      lastCheckpoint: this.lastCheckpoint,
    };
  }

  private epochProgress(): number {
    return this.epoch + this.batchInEpoch / Math.max(1, this.plan.batchesPerEpoch);
  }

  private async logEval(): Promise<EvalResult | undefined> {
    const r = await this.evaluate();
    if (!r) return undefined;
    const entry: LogEntry = { step: this.step, epoch: round(this.epochProgress()), eval_loss: round(r.loss), eval_token_accuracy: round(r.tokenAccuracy) };
    this.history.push(entry);
    await this.hooks.onEvent?.({ kind: 'eval', entry });
    return r;
  }

  /** Write checkpoint-<step> and rotate. */
  async checkpoint(): Promise<string> {
    const lora = this.decoder.lora;
    const path = await saveCheckpoint(this.args.output_dir, {
      writeAdapter: lora ? (dir) => writeAdapterFiles(lora, dir) : undefined,
      weights: this.args.full ? this.decoder.trainable() : undefined,
      optimizer: this.optimizer,
      state: {
        global_step: this.step,
        epoch: this.epoch,
        batch_in_epoch: this.batchInEpoch,
        epoch_progress: round(this.epochProgress()),
        max_steps: this.plan.totalSteps,
        scheduler_step: this.scheduler.stepCount,
        dropout_calls: Object.fromEntries([...(lora?.layers ?? [])].map(([m, l]) => [m, l.dropoutCalls])),
        log_window: { ...this.window },
        tokens_seen: this.tokensSeen,
        log_history: this.history,
        fingerprint: this.fingerprint,
      },
    });
    this.lastCheckpoint = path;
    const removed = await rotateCheckpoints(this.args.output_dir, this.args.save_total_limit);
    await this.hooks.onEvent?.({ kind: 'save', step: this.step, path, removed });
    return path;
  }

  /** A NonFiniteError from the loss or the gradient norm, as the error that stops the run. */
  private diverged(e: unknown, step: number): unknown {
    if (!(e instanceof NonFiniteError)) return e;
    return new TrainingDivergedError(step, e.where, e.value, this.lastCheckpoint);
  }

  /**
   * Write the run's results into --output-dir (each file atomically): the adapter in PEFT's format
   * (or, with --full, the trained model: config, tokenizer and f32 weights), training_args.json,
   * trainer_state.json, loss_curve.png and README.md. Returns the paths written.
   */
  async saveOutputs(result: TrainResult): Promise<string[]> {
    const dir = this.args.output_dir;
    const written: string[] = [];
    const lora = this.decoder.lora;
    if (lora) {
      await writeAdapterFiles(lora, dir);
      written.push(join(dir, 'adapter_config.json'), join(dir, 'adapter_model.safetensors'));
    } else {
      await writeSafetensors(join(dir, FULL_WEIGHTS_NAME), await hostTensors(this.decoder.trainable()), { metadata: { format: 'pt' } });
      written.push(join(dir, FULL_WEIGHTS_NAME));
      for (const name of MODEL_SIDE_FILES) {
        const from = join(this.args.model, name);
        if (!(await pathExists(from))) continue;
        let bytes = await readRegularFile(from, `the model's ${name}`);
        if (name === 'config.json') {
          const config = JSON.parse(bytes.toString('utf8'));
          config.torch_dtype = 'float32';
          bytes = Buffer.from(`${JSON.stringify(config, null, 2)}\n`);
        }
        await writeFileAtomic(join(dir, name), bytes, { force: true });
        written.push(join(dir, name));
      }
    }
    const state = {
      format: 'kvant-trainer-state',
      global_step: result.globalStep,
      status: result.status,
      train_loss: result.trainLoss,
      eval: result.eval ?? null,
      seconds: result.seconds,
      log_history: result.logHistory,
    };
    written.push(...(await writeRunFiles(this.args, this.plan, result, this.runtime.info().description, state)));
    return written;
  }

  dispose(): void {
    this.optimizer.dispose();
    this.decoder.dispose();
  }
}

/** The decoder's batch from a data batch. */
export function toModelBatch(b: Batch) {
  return { b: b.rows, t: b.seqLength, inputIds: b.inputIds, positionIds: b.positionIds, labels: b.labels };
}

function makeOptimizer(rt: Runtime, a: TrainArgs, params: readonly NamedParam[]): Optimizer<{ lr: number }> {
  // transformers: no weight decay on biases and norm weights.
  const groups: ParamGroup<{ weightDecay: number }>[] = [];
  const decay = params.filter((p) => !(p.name.endsWith('.bias') || isNorm(p.name)));
  const noDecay = params.filter((p) => p.name.endsWith('.bias') || isNorm(p.name));
  if (decay.length) groups.push({ params: decay });
  if (noDecay.length) groups.push({ params: noDecay, weightDecay: 0 });
  const hyper = { lr: a.learning_rate, betas: [a.adam_beta1, a.adam_beta2] as [number, number], eps: a.adam_epsilon, weightDecay: a.weight_decay };
  if (a.optim === 'adamw') return new AdamW(rt, groups, hyper) as unknown as Optimizer<{ lr: number }>;
  if (a.optim === 'adamw_8bit') return new AdamW8bit(rt, groups, hyper) as unknown as Optimizer<{ lr: number }>;
  return new SGD(rt, groups as never, { lr: a.learning_rate, momentum: a.adam_beta1 === 0.9 ? 0 : a.adam_beta1, weightDecay: a.weight_decay }) as unknown as Optimizer<{ lr: number }>;
}

/** The options, model and data a checkpoint must share with a resumed run. */
async function runFingerprint(a: TrainArgs, d: Decoder, modelConfig: unknown): Promise<Record<string, unknown>> {
  const fp: Record<string, unknown> = {};
  for (const k of TRAJECTORY_KEYS) fp[k] = a[k] ?? null;
  fp.model_config = modelConfig;
  fp.base_storage = d.loadReport?.linearStorage ?? null;
  fp.data_sha256 = await fileHash(a.data);
  fp.eval_data_sha256 = a.eval_data ? await fileHash(a.eval_data) : null;
  fp.eval_fraction = a.eval_fraction ?? null;
  return fp;
}

/** Refuse an output folder that holds another run (unless overwrite or resume); with overwrite, remove kvant's old checkpoints there. */
async function checkOutputDir(a: TrainArgs): Promise<void> {
  if (!(await pathExists(a.output_dir))) return;
  let names: string[];
  try {
    names = (await readdir(a.output_dir)).filter((n) => !n.startsWith('.'));
  } catch (e) {
    throw new OutputDirError(`kvant train: output_dir ${a.output_dir}`, 'a folder (or a path that does not exist yet)', (e as Error).message);
  }
  if (names.length === 0 || a.resume_from_checkpoint !== undefined) return;
  if (!a.overwrite_output_dir) {
    throw new OutputDirError(`kvant train: output_dir ${a.output_dir}`, 'an empty or new folder (or --overwrite-output-dir, or --resume-from-checkpoint)', `${names.length} entries (${names.slice(0, 4).join(', ')}${names.length > 4 ? ', …' : ''})`);
  }
  for (const c of await listCheckpoints(a.output_dir)) await rm(c.path, { recursive: true, force: true });
}

function fullParameterLine(d: Decoder): string {
  const n = d.trainable().reduce((s, t) => s + t.param.size, 0);
  return `trainable params: ${n.toLocaleString('en-US')} || all params: ${n.toLocaleString('en-US')} || trainable%: 100.0000`;
}

function round(x: number): number {
  return Number.isFinite(x) ? Number(x.toPrecision(6)) : x;
}

function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN;
}
