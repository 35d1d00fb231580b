/**
 * The decoder's forward and forward + backward tokens/s with LoRA (r 16, alpha 32, all-linear), on
 * the embedded tiny model (models/tiny: Llama layout, C 128, L 4, V 768, ~0.8M parameters) and on a
 * generated ~100M-parameter Llama-shaped model (C 768, I 2048, L 12, H 12, V 8192, untied head,
 * written once into .cache/), per runtime, dense f32 base vs NF4 + double quant, with and without
 * gradient checkpointing, next to PyTorch + PEFT on the CPU in the same run (torch.ts). Issue 12's
 * targets: wasm forward + backward at least 1.0x torch's tokens/s on the tiny model, 0.3x on ~100M.
 *
 * Validates before timing: the dense base's first loss equals torch's (same weights, B = 0) within
 * 1e-3 relative, every loss and gradient norm is finite, and the checkpointed backward gives the
 * same gradient norm. Memory is what the runtime holds: the weights (`loadReport.deviceBytes`), the
 * adapter, and the activations of one batch (`activationMemory`) with and without checkpointing.
 *
 *   import { runModelBench } from './model-bench';
 *   await runModelBench(runtimes, (line) => console.log(line));
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Runtime } from '@kvant/abi';
import { type ExampleModelSize, generateExampleModel } from '@kvant/formats';
import { type Batch, Decoder } from '@kvant/model';
import { clipGradNorm } from '@kvant/optim';
import { Bench } from 'tinybench';
import { linalgBenches, PEAK_NAME } from './linalg-suites';
import { runBenches } from './run-benches';
import { fasterTorch, type TorchBaseline, torchBaseline } from './torch';

/** The repository root (models/ and .cache/ are under it). */
export const REPO_ROOT = join(import.meta.dirname, '..', '..');

/** ~100M parameters: 12 × 7.08M in the blocks + 2 × 6.29M embedding and head = 97.5M. */
export const LLAMA_100M_SIZE: ExampleModelSize = {
  hidden_size: 768,
  intermediate_size: 2048,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  num_key_value_heads: 12,
  vocab_size: 8192,
};

/** One model of the model and train suites, with the batch it is run at. */
export interface BenchModel {
  readonly name: 'tiny' | 'llama-100m';
  readonly dir: string;
  /** Generated into `dir` when missing (undefined: shipped in the repository). */
  readonly size?: ExampleModelSize;
  readonly b: number;
  readonly t: number;
}

/** The LoRA config of both suites (PEFT's names). */
export const BENCH_LORA = { r: 16, lora_alpha: 32, target_modules: 'all-linear' } as const;

/** The two models: the embedded tiny one at B 2 × T 256, the ~100M one at B 1 × T 128 (seconds per step on 2 cores). */
export function benchModels(): BenchModel[] {
  return [
    { name: 'tiny', dir: join(REPO_ROOT, 'models', 'tiny'), b: 2, t: 256 },
    { name: 'llama-100m', dir: join(REPO_ROOT, '.cache', 'bench-llama-100m'), size: LLAMA_100M_SIZE, b: 1, t: 128 },
  ];
}

/** The widths of a Llama config.json: hidden C, heads H, head dim D, q width H·D, k/v width Hkv·D. */
function llamaWidths(config: Record<string, number | boolean>): { c: number; h: number; d: number; q: number; kv: number } {
  const c = config.hidden_size as number;
  const h = config.num_attention_heads as number;
  const d = (config.head_dim as number | undefined) ?? c / h;
  return { c, h, d, q: h * d, kv: (config.num_key_value_heads as number) * d };
}

/** Parameters of a Llama config.json (embedding, head unless tied, blocks, final norm). */
export function llamaParameters(config: Record<string, number | boolean>): number {
  const { c, q, kv } = llamaWidths(config);
  const v = config.vocab_size as number;
  const block = c * (q + 2 * kv) + q * c + 3 * c * (config.intermediate_size as number) + 2 * c;
  return v * c * (config.tie_word_embeddings ? 1 : 2) + (config.num_hidden_layers as number) * block + c;
}

/**
 * The least work one LoRA forward + backward can do, in flops (2 per multiply-add), with the base
 * frozen and the embedding not trained:
 * - every base linear's forward and input gradient (2·M·K·N each, the head included), except the
 *   input gradient of block 0's q, k and v, whose input is the embedding (nothing uses it);
 * - LoRA on every linear: forward x·Aᵀ and (x·Aᵀ)·Bᵀ, backward dB, d(x·Aᵀ), dA and dx (each
 *   2·M·r·N or 2·M·r·K; again no dx into the embedding);
 * - causal attention over the lower triangle only: forward Q·Kᵀ and P·V, backward dV, dP, dQ and
 *   dK (no recomputation).
 * Element-wise work is left out, so this is a lower bound. Its linear part equals what
 * torch.utils.flop_counter counts for transformers + PEFT (model-bench.test.ts).
 */
export function fwdBwdFlops(config: Record<string, number | boolean>, b: number, t: number, r: number): { linears: number; attention: number; total: number } {
  const { c, h, d, q, kv } = llamaWidths(config);
  const inter = config.intermediate_size as number;
  const layers = config.num_hidden_layers as number;
  const vocab = config.vocab_size as number;
  const m = b * t;
  // [K, N] of every linear in a block (q, k, v, o, gate, up, down), and whether it reads the block's input.
  const linears: [number, number, boolean][] = [
    [c, q, true],
    [c, kv, true],
    [c, kv, true],
    [q, c, false],
    [c, inter, false],
    [c, inter, false],
    [inter, c, false],
  ];
  let mac = vocab * c * m * 2; // the head: forward and input gradient
  for (let l = 0; l < layers; l++) {
    for (const [k, n, readsInput] of linears) {
      const dx = !(l === 0 && readsInput);
      mac += m * k * n * (dx ? 2 : 1); // base forward (+ input gradient)
      mac += m * r * (k + n) + m * r * 2 * n + m * r * k * (dx ? 2 : 1); // LoRA: forward; dB, d(x·Aᵀ); dA (+ dx)
    }
  }
  const attention = 2 * 6 * b * h * ((t * (t + 1)) / 2) * d * layers;
  return { linears: 2 * mac, attention, total: 2 * mac + attention };
}

/** Make sure the model folder exists (generating it once); returns its parameter count. */
export async function ensureBenchModel(m: BenchModel, log: (line: string) => void): Promise<number> {
  const configPath = join(m.dir, 'config.json');
  const matches = () => {
    if (!existsSync(configPath)) return false;
    const c = JSON.parse(readFileSync(configPath, 'utf8'));
    return !m.size || Object.entries(m.size).every(([k, v]) => c[k] === v);
  };
  if (!matches()) {
    if (!m.size) throw new Error(`bench model ${m.name}: ${configPath} is missing`);
    log(`generating ${m.name} into ${m.dir} (once; kept in .cache/)…`);
    await generateExampleModel(m.dir, { size: m.size, force: true, seed: 0 });
  }
  return llamaParameters(JSON.parse(readFileSync(configPath, 'utf8')));
}

/** A fixed batch of B·T token ids (seeded; labels = the ids, as transformers takes them). */
export function benchIds(vocab: number, b: number, t: number): number[] {
  let s = 12345;
  return Array.from({ length: b * t }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % vocab;
  });
}

export function benchBatch(ids: readonly number[], b: number, t: number): Batch {
  return { b, t, inputIds: ids, labels: ids };
}

/** Threads of a runtime (wasm's worker count; 1 otherwise). */
export function runtimeThreads(rt: Runtime): number {
  return (rt.info().details as { threads?: number } | undefined)?.threads ?? 1;
}

/** A software WebGPU adapter (lavapipe, llvmpipe, SwiftShader): slow, so it runs the tiny model only. */
export function isSoftwareGpu(rt: Runtime): boolean {
  const d = rt.info().details as { isFallbackAdapter?: boolean } | undefined;
  return rt.name === 'webgpu' && (!!d?.isFallbackAdapter || /llvmpipe|swiftshader|lavapipe/i.test(rt.info().description));
}

/** Median ms of `body` with tinybench: `iterations` timed runs after one warm-up (seconds per call: no time budget). */
export async function medianMs(name: string, body: () => Promise<void>, iterations: number, timeMs = 0): Promise<number> {
  const bench = new Bench({ time: timeMs, iterations, warmupIterations: 1, warmupTime: 0 });
  bench.add(name, body);
  await bench.run();
  const r = bench.tasks[0].result;
  if (r.state !== 'completed') {
    const why = (r as { error?: unknown }).error;
    throw why instanceof Error ? why : new Error(`${name}: ${r.state}`);
  }
  return r.latency.p50;
}

export interface ModelBenchRow {
  readonly model: string;
  readonly parameters: number;
  readonly runtime: string;
  readonly base: 'f32' | 'nf4';
  readonly b: number;
  readonly t: number;
  readonly forwardTokensPerS: number;
  readonly fwdBwdTokensPerS: number;
  readonly fwdBwdCheckpointedTokensPerS: number;
  readonly loss: number;
  /** Parameters on the runtime (dense f32 or 4-bit + absmax, with embeddings, norms and head). */
  readonly weightBytes: number;
  /** LoRA A and B (f32). */
  readonly adapterBytes: number;
  /** activationMemory(B, T).totalBytes without / with checkpointing (+ LoRA's saved x·Aᵀ). */
  readonly activationBytes: number;
  readonly activationBytesCheckpointed: number;
  /** kvant tokens/s / torch tokens/s (torch dense f32 base, same threads). */
  readonly forwardVsTorch?: number;
  readonly fwdBwdVsTorch?: number;
}

export interface ModelBenchReport {
  readonly rows: readonly ModelBenchRow[];
  readonly torch: Readonly<Record<string, TorchBaseline>>;
  readonly skipped: Readonly<Record<string, string>>;
  readonly targets: readonly { what: string; measured?: number; target: string; met?: boolean }[];
}

export interface ModelBenchOptions {
  /** Threads for torch (default: the wasm runtime's, else this machine's cores). */
  readonly threads?: number;
  /** Timed iterations per measurement (default 3). */
  readonly iterations?: number;
}

async function gradNorm(rt: Runtime, d: Decoder): Promise<number> {
  const grads: Record<string, import('@kvant/abi').Tensor> = {};
  for (const p of d.trainable()) grads[p.name] = p.grad;
  return clipGradNorm(rt, grads, Number.MAX_VALUE);
}

/** One runtime × model × base: validate, then time forward, forward + backward, and the checkpointed forward + backward. */
async function benchOne(rt: Runtime, m: BenchModel, parameters: number, base: 'f32' | 'nf4', torch: TorchBaseline | undefined, iterations: number, log: (line: string) => void): Promise<ModelBenchRow> {
  const d = await Decoder.fromFolder(rt, m.dir, base === 'nf4' ? { quant: { quantType: 'nf4', doubleQuant: true } } : {});
  try {
    await d.addAdapter({ ...BENCH_LORA }, 'default', { seed: 0 });
    const ids = benchIds(d.config.vocab, m.b, m.t);
    const batch = benchBatch(ids, m.b, m.t);
    const where = `model bench ${m.name} ${base} on ${rt.name}`;
    // Validate: the loss (finite; the dense one equals torch's), a finite non-zero gradient, the same one when checkpointed.
    const { loss } = await d.forward(batch, { training: true });
    if (loss === undefined || !Number.isFinite(loss)) throw new Error(`${where}: the loss is ${loss}`);
    if (base === 'f32' && torch?.ok && Math.abs(loss - torch.initialLoss) > 1e-3 * Math.abs(torch.initialLoss)) {
      throw new Error(`${where}: loss ${loss} differs from torch's ${torch.initialLoss} on the same weights`);
    }
    await d.backward();
    const norm = await gradNorm(rt, d);
    if (!(Number.isFinite(norm) && norm > 0)) throw new Error(`${where}: the gradient norm is ${norm}`);
    d.checkpointing = true;
    await d.forward(batch, { training: true });
    await d.backward();
    const normCk = await gradNorm(rt, d);
    if (Math.abs(normCk - norm) > 1e-5 * norm) throw new Error(`${where}: checkpointing changed the gradient norm (${norm} vs ${normCk})`);
    const memory = { off: 0, on: 0 };
    const am = d.activationMemory(m.b, m.t);
    memory.on = am.totalBytes + d.loraActivationBytes(m.b * m.t);
    memory.off = am.totalBytesOtherChoice + d.loraActivationBytes(m.b * m.t);
    const tokens = m.b * m.t;
    const fwdBwd = async () => {
      await d.forward(batch, { training: true });
      await d.backward();
      await rt.flush();
    };
    const ckMs = await medianMs('fwd+bwd checkpointed', fwdBwd, iterations);
    d.checkpointing = false;
    const fwdBwdMs = await medianMs('fwd+bwd', fwdBwd, iterations);
    const fwdMs = await medianMs(
      'forward',
      async () => {
        await d.forward(batch);
        await rt.flush();
      },
      iterations,
    );
    const tf = torch?.ok ? torch.results.forward?.tokensPerS : undefined;
    const tb = torch?.ok ? torch.results.fwdbwd?.tokensPerS : undefined;
    const row: ModelBenchRow = {
      model: m.name,
      parameters,
      runtime: rt.name,
      base,
      b: m.b,
      t: m.t,
      forwardTokensPerS: tokens / (fwdMs / 1000),
      fwdBwdTokensPerS: tokens / (fwdBwdMs / 1000),
      fwdBwdCheckpointedTokensPerS: tokens / (ckMs / 1000),
      loss,
      weightBytes: d.loadReport?.deviceBytes ?? 0,
      adapterBytes: d.trainable().reduce((n, p) => n + p.param.byteLength, 0),
      activationBytes: memory.off,
      activationBytesCheckpointed: memory.on,
      forwardVsTorch: tf ? tokens / (fwdMs / 1000) / tf : undefined,
      fwdBwdVsTorch: tb ? tokens / (fwdBwdMs / 1000) / tb : undefined,
    };
    const mib = (x: number) => `${(x / 2 ** 20).toFixed(1)} MiB`;
    const vs = (x: number | undefined) => (x === undefined ? '' : ` (${x.toFixed(2)}x torch)`);
    log(
      `  ${m.name} ${base.padEnd(3)} ${rt.name}: forward ${row.forwardTokensPerS.toFixed(0)} tok/s${vs(row.forwardVsTorch)}, fwd+bwd ${row.fwdBwdTokensPerS.toFixed(0)} tok/s${vs(row.fwdBwdVsTorch)}, ` +
        `checkpointed ${row.fwdBwdCheckpointedTokensPerS.toFixed(0)} tok/s; loss ${loss.toFixed(4)}; weights ${mib(row.weightBytes)}, adapter ${mib(row.adapterBytes)}, ` +
        `activations ${mib(row.activationBytes)} / ${mib(row.activationBytesCheckpointed)} checkpointed`,
    );
    return row;
  } finally {
    d.dispose();
  }
}

/** The model suite's forward / forward + backward table on every runtime, with torch's numbers from the same run. */
export async function runModelBench(runtimes: readonly Runtime[], log: (line: string) => void, options: ModelBenchOptions = {}): Promise<ModelBenchReport> {
  const wasm = runtimes.find((r) => r.name === 'wasm');
  const threads = options.threads ?? (wasm ? runtimeThreads(wasm) : availableParallelism());
  const iterations = options.iterations ?? 3;
  const rows: ModelBenchRow[] = [];
  const torch: Record<string, TorchBaseline> = {};
  const skipped: Record<string, string> = {};
  /** Each model's least forward + backward work (fwdBwdFlops), for the ceiling rows. */
  const flopsOf: Record<string, number> = {};
  for (const m of benchModels()) {
    const parameters = await ensureBenchModel(m, log);
    log(`\n${m.name} (${(parameters / 1e6).toFixed(2)}M parameters), B ${m.b} × T ${m.t}, LoRA r ${BENCH_LORA.r} alpha ${BENCH_LORA.lora_alpha} all-linear:`);
    const config = JSON.parse(readFileSync(join(m.dir, 'config.json'), 'utf8'));
    flopsOf[m.name] = fwdBwdFlops(config, m.b, m.t, BENCH_LORA.r).total;
    const request = { model: m.dir, threads, b: m.b, t: m.t, inputIds: benchIds(config.vocab_size, m.b, m.t), r: BENCH_LORA.r, alpha: BENCH_LORA.lora_alpha, lr: 1e-3, modes: ['forward', 'fwdbwd'] as ('forward' | 'fwdbwd')[] };
    const t = torchBaseline(request);
    torch[m.name] = t;
    const first = rows.length;
    if (t.ok) log(`  ${m.name} f32 torch ${t.threads} threads: forward ${t.results.forward?.tokensPerS.toFixed(0)} tok/s, fwd+bwd ${t.results.fwdbwd?.tokensPerS.toFixed(0)} tok/s; loss ${t.initialLoss.toFixed(4)}`);
    else log(`  torch: not measured: ${t.reason}`);
    for (const rt of runtimes) {
      if (rt.name === 'cuda-emu') {
        skipped[`${m.name} ${rt.name}`] = 'an emulator: its timings say nothing';
        continue;
      }
      if (isSoftwareGpu(rt) && m.name !== 'tiny') {
        skipped[`${m.name} ${rt.name}`] = 'a software WebGPU adapter: the tiny model only';
        log(`  ${m.name} ${rt.name}: skipped (a software WebGPU adapter: the tiny model only)`);
        continue;
      }
      for (const base of ['f32', 'nf4'] as const) rows.push(await benchOne(rt, m, parameters, base, t, isSoftwareGpu(rt) ? 1 : iterations, log));
    }
    // torch again, after kvant: the ratios use torch's faster run (see fasterTorch).
    if (t.ok) {
      const best = fasterTorch(t, torchBaseline(request));
      torch[m.name] = best;
      if (best.ok) {
        const tf = best.results.forward?.tokensPerS;
        const tb = best.results.fwdbwd?.tokensPerS;
        log(`  ${m.name} f32 torch again: forward ${best.runs?.forward?.map((x) => x.toFixed(0)).join(' / ')} tok/s, fwd+bwd ${best.runs?.fwdbwd?.map((x) => x.toFixed(0)).join(' / ')} tok/s (before / after kvant; ratios use the faster)`);
        for (let i = first; i < rows.length; i++) {
          const r = rows[i];
          rows[i] = { ...r, forwardVsTorch: tf ? r.forwardTokensPerS / tf : undefined, fwdBwdVsTorch: tb ? r.fwdBwdTokensPerS / tb : undefined };
          const x = (v: number | undefined) => (v === undefined ? '–' : `${v.toFixed(2)}x`);
          log(`    ${m.name} ${r.base.padEnd(3)} ${r.runtime} against torch's faster run: forward ${x(rows[i].forwardVsTorch)}, fwd+bwd ${x(rows[i].fwdBwdVsTorch)}`);
        }
      }
    }
  }
  // The ceiling, from this run: if every flop of the forward + backward ran at the wasm runtime's
  // measured multiply-add peak, kvant's tokens/s over torch's would be peak / (torch's achieved rate).
  let wasmPeak: number | undefined;
  if (wasm) {
    const [peak] = await runBenches(wasm, linalgBenches().filter((b) => b.name === PEAK_NAME), { log: (l) => log(`  ${l}`) });
    wasmPeak = peak?.gflopPerS;
    if (wasmPeak !== undefined) log(`\nwasm peak multiply-add rate (linalg.peak_flops, ${runtimeThreads(wasm)} threads): ${wasmPeak.toFixed(2)} GFLOP/s`);
  }
  const targets: ModelBenchReport['targets'][number][] = [];
  for (const [model, target] of [
    ['tiny', 1.0],
    ['llama-100m', 0.3],
  ] as const) {
    const fwdbwd = torch[model]?.ok ? (torch[model] as Extract<TorchBaseline, { ok: true }>).results.fwdbwd : undefined;
    const flops = flopsOf[model];
    const torchGflops = fwdbwd ? flops / 1e9 / fwdbwd.medianS : undefined;
    const ceiling = wasmPeak !== undefined && torchGflops !== undefined ? wasmPeak / torchGflops : undefined;
    for (const base of ['f32', 'nf4'] as const) {
      const measured = rows.find((r) => r.model === model && r.runtime === 'wasm' && r.base === base)?.fwdBwdVsTorch;
      targets.push({ what: `wasm fwd+bwd ${model} (${base} base) / torch (f32 base)`, measured, target: `>= ${target}`, met: measured === undefined ? undefined : measured >= target });
    }
    if (torchGflops !== undefined) {
      log(`${model}: fwd+bwd is at least ${(flops / 1e9).toFixed(3)} GFLOP; torch ran it at ${torchGflops.toFixed(1)} GFLOP/s`);
      targets.push({
        what: `ceiling: wasm peak / torch's achieved GFLOP/s, fwd+bwd ${model}`,
        measured: ceiling,
        target: `(report: the most the ratio can be${ceiling !== undefined && ceiling < target ? `; below ${target}, so the target is unreachable on this CPU` : ''})`,
      });
    }
  }
  log('\ntargets (issue 12, ratios from this run):');
  for (const x of targets) log(`  ${x.what.padEnd(56)} ${x.measured === undefined ? 'not measured' : `${x.measured.toFixed(2)}x`}  target ${x.target}${x.met === false ? '  MISSED' : x.met ? '  met' : ''}`);
  return { rows, torch, skipped, targets };
}
