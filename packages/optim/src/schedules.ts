/**
 * Learning-rate schedules with Hugging Face's names and semantics (transformers.get_scheduler):
 * each is a pure function step -> multiplier of the initial lr, and `LrScheduler` applies one to
 * an optimizer as torch's LambdaLR does (lr = initial_lr · factor(step); the factor of step 0 is
 * applied when the scheduler is made, then `step()` after each optimizer step moves to the next).
 */
import { ConfigError } from '@kvant/abi';
import type { Optimizer } from './optimizer';

/** The schedule names kvant knows (transformers' SchedulerType values). */
export type ScheduleName = 'constant' | 'constant_with_warmup' | 'linear' | 'cosine';

export const SCHEDULE_NAMES: readonly ScheduleName[] = ['constant', 'constant_with_warmup', 'linear', 'cosine'];

/** Options of a schedule (TrainingArguments names in camelCase). */
export interface ScheduleOptions {
  /** Steps of linear warmup from 0 (transformers' num_warmup_steps / warmup_steps). */
  readonly warmupSteps?: number;
  /** Warmup as a fraction of numTrainingSteps: ceil(numTrainingSteps · warmupRatio) steps. Not with warmupSteps. */
  readonly warmupRatio?: number;
  /** Total optimizer steps (needed by linear and cosine, and by warmupRatio). */
  readonly numTrainingSteps?: number;
  /** Cosine waves over the decay (default 0.5: from 1 down to 0). */
  readonly numCycles?: number;
}

/** A schedule: step -> multiplier of the initial lr. */
export type Schedule = (step: number) => number;

/** The warmup steps an options object asks for (warmupSteps, or ceil(T · warmupRatio), or 0). */
export function warmupStepsOf(options: ScheduleOptions, where = 'schedule'): number {
  const { warmupSteps, warmupRatio, numTrainingSteps } = options;
  if (warmupSteps !== undefined && warmupRatio !== undefined) {
    throw new ConfigError(`${where}: warmup`, 'warmupSteps or warmupRatio, not both', `warmupSteps ${warmupSteps}, warmupRatio ${warmupRatio}`);
  }
  if (warmupRatio !== undefined) {
    if (!(warmupRatio >= 0 && warmupRatio <= 1)) throw new ConfigError(`${where}: warmupRatio`, 'a number in [0, 1]', String(warmupRatio));
    return Math.ceil(stepsArg(where, 'numTrainingSteps (warmupRatio needs it)', numTrainingSteps) * warmupRatio);
  }
  if (warmupSteps === undefined) return 0;
  return stepsArg(where, 'warmupSteps', warmupSteps);
}

function stepsArg(where: string, name: string, v: number | undefined): number {
  if (v === undefined || !Number.isSafeInteger(v) || v < 0) throw new ConfigError(`${where}: ${name.split(' ')[0]}`, `${name} as an integer >= 0`, String(v));
  return v;
}

/** A named schedule as a pure function (transformers' lr_lambda for that name). */
export function schedule(name: ScheduleName, options: ScheduleOptions = {}): Schedule {
  const where = `schedule ${JSON.stringify(name)}`;
  if (!SCHEDULE_NAMES.includes(name)) throw new ConfigError('schedule', `a name among ${SCHEDULE_NAMES.join(', ')}`, JSON.stringify(name));
  if (name === 'constant') return () => 1;
  const warmup = warmupStepsOf(options, where);
  const warm = (step: number) => step / Math.max(1, warmup);
  if (name === 'constant_with_warmup') return (step) => (step < warmup ? warm(step) : 1);
  const total = stepsArg(where, 'numTrainingSteps', options.numTrainingSteps);
  const span = Math.max(1, total - warmup);
  if (name === 'linear') return (step) => (step < warmup ? warm(step) : Math.max(0, (total - step) / span));
  const cycles = options.numCycles ?? 0.5;
  if (!Number.isFinite(cycles) || cycles < 0) throw new ConfigError(`${where}: numCycles`, 'a finite number >= 0', String(cycles));
  return (step) => {
    if (step < warmup) return warm(step);
    const progress = (step - warmup) / span;
    return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * cycles * 2 * progress)));
  };
}

/** Applies a schedule to an optimizer's lr, as torch's LambdaLR under transformers' get_scheduler. */
export class LrScheduler {
  private current = 0;
  readonly schedule: Schedule;

  /** Sets every group's lr to initial_lr · factor(0) now. */
  constructor(
    readonly optimizer: Pick<Optimizer<{ lr: number }>, 'setLrFactor'>,
    scheduleOrName: Schedule | ScheduleName,
    options: ScheduleOptions = {},
  ) {
    this.schedule = typeof scheduleOrName === 'function' ? scheduleOrName : schedule(scheduleOrName, options);
    this.apply();
  }

  /** Scheduler steps taken (torch's last_epoch). */
  get stepCount(): number {
    return this.current;
  }

  /** The current multiplier of the initial lr. */
  get factor(): number {
    return this.schedule(this.current);
  }

  /** Move to the next step (call after optimizer.step()) and set the lr. */
  step(): void {
    this.current += 1;
    this.apply();
  }

  /** What to save with a checkpoint. */
  state(): { step: number } {
    return { step: this.current };
  }

  /** Resume at a saved step (sets the lr that step had). */
  loadState(state: { step: number }): void {
    if (!Number.isSafeInteger(state?.step) || state.step < 0) throw new ConfigError('LrScheduler.loadState: step', 'an integer >= 0', String(state?.step));
    this.current = state.step;
    this.apply();
  }

  private apply(): void {
    const factor = this.schedule(this.current);
    if (!Number.isFinite(factor) || factor < 0) throw new ConfigError(`LrScheduler at step ${this.current}`, 'a finite lr factor >= 0', String(factor));
    this.optimizer.setLrFactor(factor);
  }
}
