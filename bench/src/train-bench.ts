/**
 * Training tokens/s and memory: one micro-batch step as @kvant/trainer's loop runs it —
 * `forward(batch, { training: true })`, `backward()`, `clipGradNorm` (max norm 1), `optimizer.step()`,
 * `optimizer.zeroGrad()` — with LoRA r 16 alpha 32 on all-linear, on the embedded tiny model and the
 * generated ~100M Llama (model-bench.ts: the same models and batches), per runtime, dense f32 vs
 * NF4 + double-quant base, AdamW vs AdamW8bit (lr 1e-3, torch's other defaults). PyTorch + PEFT on
 * the CPU runs the same step (dense f32 base, AdamW, the same threads) in the same run (torch.ts).
 *
 * Each configuration runs in a child process of its own, so the peak RSS it reports (the whole Node
 * process: runtime heap, host copies while loading, Node itself) belongs to that configuration
 * alone: VmHWM of /proc/self/status, because Linux carries `getrusage`'s maxRSS
 * (`process.resourceUsage().maxRSS`) over from the parent through fork + exec, so a child's maxRSS
 * is never below the bench process's RSS (elsewhere maxRSS is used). Next to it, what the runtime holds:
 * weights (`loadReport.deviceBytes`), adapter and gradients (the trainable tensors), optimizer state
 * (`optimizer.stateBytes()`) and activations (`activationMemory(B, T)` + LoRA's saved x·Aᵀ).
 *
 * Validates before timing: four steps on the batch, every loss finite and the last below the first.
 *
 *   import { runTrainBench } from './train-bench';
 *   await runTrainBench(runtimes, (line) => console.log(line));
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { Runtime } from '@kvant/abi';
import { Decoder } from '@kvant/model';
import { AdamW, AdamW8bit, clipGradNorm } from '@kvant/optim';
import { createRuntime } from '@kvant/runtimes';
import { BENCH_LORA, type BenchModel, benchBatch, benchIds, benchModels, ensureBenchModel, isSoftwareGpu, medianMs, runtimeThreads } from './model-bench';
import { fasterTorch, type TorchBaseline, torchBaseline } from './torch';

/** Learning rate of both sides (torch.optim.AdamW's default; betas, eps and weight decay 0.01 too). */
const LR = 1e-3;
const VALIDATE_STEPS = 4;

export interface TrainConfig {
  readonly model: BenchModel;
  readonly runtime: string;
  /** wasm: worker threads. */
  readonly threads?: number;
  readonly base: 'f32' | 'nf4';
  readonly optim: 'adamw' | 'adamw_8bit';
  readonly iterations: number;
}

export interface TrainMemory {
  /** Parameters on the runtime (loadReport.deviceBytes). */
  readonly weightBytes: number;
  /** LoRA A and B, f32. */
  readonly adapterBytes: number;
  /** Their gradients (the same bytes). */
  readonly gradientBytes: number;
  /** optimizer.stateBytes().total. */
  readonly optimizerBytes: number;
  /** activationMemory(B, T).totalBytes (no checkpointing) + loraActivationBytes(B·T). */
  readonly activationBytes: number;
  /** The sum of the five above: what the runtime holds for training. */
  readonly runtimeBytes: number;
  /** wasm: the linear memory's size at the end (it never shrinks: its high-water mark). */
  readonly wasmHeapBytes?: number;
  /** Peak RSS of the child after the timed steps (peakRssBytes(): the whole process's high-water mark). */
  readonly peakRssBytes: number;
  /** The same right after the runtime started (Node, tsx and the runtime before any model). */
  readonly startRssBytes: number;
}

export interface TrainRow {
  readonly model: string;
  readonly runtime: string;
  readonly base: 'f32' | 'nf4';
  readonly optim: 'adamw' | 'adamw_8bit';
  readonly b: number;
  readonly t: number;
  readonly stepMs: number;
  readonly tokensPerS: number;
  /** Losses of the validation steps. */
  readonly losses: readonly number[];
  readonly memory: TrainMemory;
  /** tokens/s / torch's (torch: dense f32 base, AdamW). */
  readonly vsTorch?: number;
}

export interface TrainBenchReport {
  readonly rows: readonly TrainRow[];
  readonly torch: Readonly<Record<string, TorchBaseline>>;
  readonly skipped: Readonly<Record<string, string>>;
}

/**
 * Peak RSS of this process in bytes: VmHWM on Linux (this process image's own high-water mark);
 * process.resourceUsage().maxRSS elsewhere (which on Linux starts at the parent's RSS after a spawn).
 */
export function peakRssBytes(): number {
  if (existsSync('/proc/self/status')) {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  }
  return process.resourceUsage().maxRSS * 1024;
}

/** Run one configuration in this process (the child's side). */
export async function runTrainConfig(cfg: TrainConfig): Promise<TrainRow> {
  const rt = await createRuntime(cfg.runtime, { threads: cfg.threads });
  const startRssBytes = peakRssBytes();
  const m = cfg.model;
  const where = `train bench ${m.name} ${cfg.base} ${cfg.optim} on ${cfg.runtime}`;
  try {
    const d = await Decoder.fromFolder(rt, m.dir, cfg.base === 'nf4' ? { quant: { quantType: 'nf4', doubleQuant: true } } : {});
    await d.addAdapter({ ...BENCH_LORA }, 'default', { seed: 0 });
    const params = d.trainable();
    const optimizer = cfg.optim === 'adamw' ? new AdamW(rt, params, { lr: LR }) : new AdamW8bit(rt, params, { lr: LR });
    const batch = benchBatch(benchIds(d.config.vocab, m.b, m.t), m.b, m.t);
    const losses: number[] = [];
    const step = async () => {
      const { loss } = await d.forward(batch, { training: true });
      await d.backward();
      await clipGradNorm(rt, optimizer.namedGrads(), 1.0, 2, { errorIfNonfinite: true });
      optimizer.step();
      optimizer.zeroGrad();
      await rt.flush();
      losses.push(loss ?? Number.NaN);
    };
    for (let i = 0; i < VALIDATE_STEPS; i++) await step();
    const check = losses.slice();
    if (!check.every(Number.isFinite) || !(check[check.length - 1] < check[0])) throw new Error(`${where}: the loss did not fall over ${VALIDATE_STEPS} steps (${check.join(', ')})`);
    const stepMs = await medianMs('train step', step, cfg.iterations);
    const trainableBytes = params.reduce((n, p) => n + p.param.byteLength, 0);
    const am = d.activationMemory(m.b, m.t);
    const memory = {
      weightBytes: d.loadReport?.deviceBytes ?? 0,
      adapterBytes: trainableBytes,
      gradientBytes: params.reduce((n, p) => n + p.grad.byteLength, 0),
      optimizerBytes: optimizer.stateBytes().total,
      activationBytes: am.totalBytes + d.loraActivationBytes(m.b * m.t),
    };
    const heap = (rt.info().details as { memoryBytes?: number } | undefined)?.memoryBytes;
    optimizer.dispose();
    d.dispose();
    return {
      model: m.name,
      runtime: cfg.runtime,
      base: cfg.base,
      optim: cfg.optim,
      b: m.b,
      t: m.t,
      stepMs,
      tokensPerS: (m.b * m.t) / (stepMs / 1000),
      losses: check,
      memory: {
        ...memory,
        runtimeBytes: memory.weightBytes + memory.adapterBytes + memory.gradientBytes + memory.optimizerBytes + memory.activationBytes,
        ...(cfg.runtime === 'wasm' && heap !== undefined ? { wasmHeapBytes: heap } : {}),
        peakRssBytes: peakRssBytes(),
        startRssBytes,
      },
    };
  } finally {
    rt.dispose();
  }
}

const SELF = fileURLToPath(import.meta.url);
const RESULT_MARK = 'kvant-train-bench-result ';

/** Run one configuration in a child process (its own peak RSS). */
function runInChild(cfg: TrainConfig): TrainRow {
  const r = spawnSync(process.execPath, [...process.execArgv, SELF, '--child', JSON.stringify(cfg)], { encoding: 'utf8', timeout: 600_000, maxBuffer: 1 << 24 });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith(RESULT_MARK));
  if (r.status !== 0 || !line) {
    const tail = `${r.stderr ?? ''}${r.error ? r.error.message : ''}`.trim().split('\n').slice(-6).join('\n');
    throw new Error(`train bench ${cfg.model.name} ${cfg.base} ${cfg.optim} on ${cfg.runtime}: the child process failed (status ${r.status}):\n${tail}`);
  }
  return JSON.parse(line.slice(RESULT_MARK.length)) as TrainRow;
}

const mib = (x: number) => `${(x / 2 ** 20).toFixed(1)} MiB`;

/** The train suite on every runtime, with torch's step from the same run. */
export async function runTrainBench(runtimes: readonly Runtime[], log: (line: string) => void, options: { iterations?: number } = {}): Promise<TrainBenchReport> {
  const wasm = runtimes.find((r) => r.name === 'wasm');
  const threads = wasm ? runtimeThreads(wasm) : availableParallelism();
  const rows: TrainRow[] = [];
  const torch: Record<string, TorchBaseline> = {};
  const skipped: Record<string, string> = {};
  for (const m of benchModels()) {
    const parameters = await ensureBenchModel(m, log);
    log(`\n${m.name} (${(parameters / 1e6).toFixed(2)}M parameters) training step, B ${m.b} × T ${m.t}, LoRA r ${BENCH_LORA.r} all-linear, clip 1.0, lr ${LR}:`);
    const vocab = JSON.parse(readFileSync(join(m.dir, 'config.json'), 'utf8')).vocab_size as number;
    const request = { model: m.dir, threads, b: m.b, t: m.t, inputIds: benchIds(vocab, m.b, m.t), r: BENCH_LORA.r, alpha: BENCH_LORA.lora_alpha, lr: LR, modes: ['train'] as 'train'[] };
    const t = torchBaseline(request);
    torch[m.name] = t;
    const first = rows.length;
    const torchTps = t.ok ? t.results.train?.tokensPerS : undefined;
    if (t.ok) log(`  torch ${t.threads} threads, f32 base, AdamW: ${torchTps?.toFixed(0)} tok/s; peak RSS ${mib(t.peakRssBytes)}`);
    else log(`  torch: not measured: ${t.reason}`);
    for (const rt of runtimes) {
      if (rt.name === 'cuda-emu') {
        skipped[`${m.name} ${rt.name}`] = 'an emulator: its timings say nothing';
        continue;
      }
      if (isSoftwareGpu(rt) && m.name !== 'tiny') {
        skipped[`${m.name} ${rt.name}`] = 'a software WebGPU adapter: the tiny model only';
        log(`  ${rt.name}: skipped (a software WebGPU adapter: the tiny model only)`);
        continue;
      }
      for (const base of ['f32', 'nf4'] as const) {
        for (const optim of ['adamw', 'adamw_8bit'] as const) {
          const cfg: TrainConfig = { model: m, runtime: rt.name, threads: rt.name === 'wasm' ? threads : undefined, base, optim, iterations: options.iterations ?? (isSoftwareGpu(rt) ? 2 : 3) };
          const row = runInChild(cfg);
          const withRatio: TrainRow = { ...row, ...(torchTps ? { vsTorch: row.tokensPerS / torchTps } : {}) };
          rows.push(withRatio);
          const x = row.memory;
          log(
            `  ${rt.name} ${base.padEnd(3)} ${optim.padEnd(10)} ${row.tokensPerS.toFixed(0).padStart(6)} tok/s${withRatio.vsTorch === undefined ? '' : ` (${withRatio.vsTorch.toFixed(2)}x torch)`}; ` +
              `loss ${row.losses[0].toFixed(3)} -> ${row.losses[row.losses.length - 1].toFixed(3)}; runtime ${mib(x.runtimeBytes)} ` +
              `(weights ${mib(x.weightBytes)}, adapter+grads ${mib(x.adapterBytes + x.gradientBytes)}, optimizer ${mib(x.optimizerBytes)}, activations ${mib(x.activationBytes)}); ` +
              `peak RSS ${mib(x.peakRssBytes)} (${mib(x.startRssBytes)} before loading)`,
          );
        }
      }
    }
    // torch again, after kvant: the ratios use torch's faster run (see fasterTorch).
    if (t.ok) {
      const best = fasterTorch(t, torchBaseline(request));
      torch[m.name] = best;
      const tps = best.ok ? best.results.train?.tokensPerS : undefined;
      log(`  torch again: ${best.runs?.train?.map((x) => x.toFixed(0)).join(' / ')} tok/s (before / after kvant; ratios use the faster)`);
      for (let i = first; i < rows.length; i++) {
        if (!tps) continue;
        rows[i] = { ...rows[i], vsTorch: rows[i].tokensPerS / tps };
        log(`    ${rows[i].runtime} ${rows[i].base.padEnd(3)} ${rows[i].optim.padEnd(10)} against torch's faster run: ${rows[i].vsTorch?.toFixed(2)}x`);
      }
    }
  }
  return { rows, torch, skipped };
}

// The child process: `tsx bench/src/train-bench.ts --child CONFIG_JSON` prints one result line.
if (process.argv[1] === SELF && process.argv[2] === '--child') {
  const row = await runTrainConfig(JSON.parse(process.argv[3]) as TrainConfig);
  process.stdout.write(`${RESULT_MARK}${JSON.stringify(row)}\n`);
  process.exit(0);
}
