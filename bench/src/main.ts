/**
 * The benchmark command: `pnpm bench [--runtime R]... [--n N] [--time MS] [--json] [--json-out FILE]`.
 * Runs the quant kernels on each runtime, with GB/s and the fraction of that runtime's copy
 * bandwidth, and runtime-vs-runtime ratios from one run. Results are JSON with a machine
 * description (bench/results/ holds committed runs). Also run by the portable kit.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KvantError, RUNTIME_NAMES, type Runtime, UnsupportedError } from '@kvant/abi';
import { writeFileAtomic } from '@kvant/formats';
import { createRuntime } from '@kvant/runtimes';
import { describeMachine } from './machine';
import { type LinalgReport, runLinalgBenches, type Target } from './linalg-report';
import { runNnBenches } from './nn-report';
import { type LoraBenchResult, runLoraBench } from './lora-bench';
import { type GenerateBenchResult, runGenerateBench, writeExampleModel } from './generate-bench';
import { type ModelBenchReport, runModelBench } from './model-bench';
import { runTrainBench, type TrainBenchReport } from './train-bench';
import { type BenchResult, runBenches } from './run-benches';
import { BENCH_N, quantBenches } from './suites';

const USAGE = `usage: pnpm bench [--runtime R]... [--suite quant|linalg|nn|lora|model|train|all] [--only TEXT] [--n ELEMENTS] [--time MS] [--json] [--json-out FILE]
  --runtime R   runtimes to compare (default: wasm, plus webgpu and cuda where they start);
                the first one is the baseline of the ratios
  --suite S     quant: the quant kernels against copy bandwidth; linalg: matmul (1024³ and
                linear-layer shapes), 4-bit matmul, AdamW / AdamW8bit on 10M parameters, the peak
                rate, wasm with 1 thread, numpy's sgemm; lora: a LoRA layer's forward and backward
                (K = N = 4096, M = 512, r = 16) next to its base; nn: attention forward and
                backward (T = 256, 1024, 2048; D = 64, 128), RMSNorm, RoPE, SwiGLU, cross-entropy;
                model: generation tokens/s on the example model with and without the KV cache, and
                forward / forward+backward tokens/s with LoRA r=16 (tiny and ~100M models, dense and
                NF4 base, with and without checkpointing) next to torch + PEFT on the CPU;
                train: training-step tokens/s and memory (tiny and ~100M, dense and NF4, AdamW and
                AdamW8bit; each configuration in its own process for its peak RSS) next to torch;
                all (default): every suite
  --only TEXT   quant, linalg and nn suites: only the benchmarks whose name contains TEXT
                (case-insensitive; e.g. --suite nn --only cross-entropy); the copy always runs
  --n N         elements per quant kernel (default ${BENCH_N})
  --threads N   wasm: threads to split heavy kernels over (default: this machine's cores)
  --time MS     minimum time per kernel (default 400)
  --json        print the results (with the machine description) as JSON on stdout; progress goes to stderr
  --json-out FILE  also write them to FILE (atomically)
Exit status: 0 done, 1 a runtime or kernel failed, 2 a usage error.`;

/** The command line is wrong: printed as one line, exit 2. */
class BenchUsageError extends Error {}

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new BenchUsageError(`--${name}: expected a positive integer, found ${JSON.stringify(value)}`);
  return n;
}

/**
 * `pnpm bench` with its exit code: usage errors (unknown flags, `--n abc`, `--n 0`) and kvant's typed
 * errors are one line on stderr, never a stack trace.
 */
export async function benchMain(argv: string[], log?: (line: string) => void): Promise<number> {
  try {
    return await runBenchCommand(argv, log);
  } catch (e) {
    if (e instanceof BenchUsageError) {
      process.stderr.write(`pnpm bench: ${e.message}\n${USAGE}\n`);
      return 2;
    }
    if (e instanceof KvantError) {
      process.stderr.write(`pnpm bench: ${e.name}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

function parseBenchArgs(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: {
        runtime: { type: 'string', multiple: true },
        n: { type: 'string' },
        suite: { type: 'string' },
        only: { type: 'string' },
        threads: { type: 'string' },
        json: { type: 'boolean' },
        'json-out': { type: 'string' },
        time: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
      strict: true,
    }).values;
  } catch (e) {
    throw new BenchUsageError(e instanceof Error ? e.message : String(e));
  }
}

async function runBenchCommand(argv: string[], logArg?: (line: string) => void): Promise<number> {
  const values = parseBenchArgs(argv);
  const log = logArg ?? (values.json ? (line: string) => process.stderr.write(`${line}\n`) : console.log);
  if (values.help) {
    log(USAGE);
    return 0;
  }
  const explicit = values.runtime ?? [];
  for (const name of explicit) if (!(RUNTIME_NAMES as readonly string[]).includes(name)) throw new BenchUsageError(`--runtime: expected one of ${RUNTIME_NAMES.join(', ')}, found ${JSON.stringify(name)}`);
  const names = explicit.length ? explicit : ['wasm', 'webgpu', 'cuda'];
  const n = positiveInt('n', values.n, BENCH_N);
  const suite = values.suite ?? 'all';
  if (!['quant', 'linalg', 'nn', 'lora', 'model', 'train', 'all'].includes(suite)) throw new BenchUsageError(`--suite: expected quant, linalg, nn, lora, model, train or all, found ${JSON.stringify(suite)}`);
  const timeMs = values.time === undefined ? undefined : positiveInt('time', values.time, 400);
  const only = values.only;
  if (only !== undefined && !['quant', 'linalg', 'nn'].includes(suite)) throw new BenchUsageError(`--only: filters the kernel suites; expected --suite quant, linalg or nn with it, found --suite ${suite}`);
  if (only !== undefined && only.trim() === '') throw new BenchUsageError('--only: expected some text of a benchmark name, found an empty string');
  const runtimes: Runtime[] = [];
  const skipped: Record<string, string> = {};
  for (const name of names) {
    try {
      runtimes.push(await createRuntime(name, { threads: values.threads === undefined ? undefined : positiveInt('threads', values.threads, 1) }));
    } catch (e) {
      if (!(e instanceof UnsupportedError) || explicit.length) throw e;
      skipped[name] = e.reason;
      log(`skip ${name}: ${e.reason}`);
    }
  }
  const machine = describeMachine();
  log(`machine: ${machine.cpu} x${machine.cores}, ${machine.memoryGiB} GiB, ${machine.os}, Node ${machine.node}`);
  const results: BenchResult[] = [];
  let linalg: LinalgReport | undefined;
  const lora: LoraBenchResult[] = [];
  const generation: GenerateBenchResult[] = [];
  let modelBench: ModelBenchReport | undefined;
  let train: TrainBenchReport | undefined;
  let nn: Target[] | undefined;
  try {
    for (const rt of runtimes) {
      log(`\n${rt.name}: ${rt.info().description}`);
      // The copy benchmark always runs: every other rate is reported against it.
      const list = suite === 'quant' || suite === 'all' ? quantBenches(n) : quantBenches(n).slice(0, 1);
      results.push(...(await runBenches(rt, list, { log, timeMs, only })));
    }
    if (suite === 'linalg' || suite === 'all') linalg = await runLinalgBenches(runtimes, results, { log, timeMs, only });
    if (suite === 'nn' || suite === 'all') nn = await runNnBenches(runtimes, results, { log, timeMs, only });
    if (suite === 'lora' || suite === 'all') {
      for (const rt of runtimes) {
        if (rt.name === 'cuda-emu') continue; // an emulator: its timings say nothing
        // A software renderer gets fewer tokens, as in the linalg suite.
        const software = rt.name === 'webgpu' && /llvmpipe|swiftshader|lavapipe/i.test(rt.info().description);
        log(`\n${rt.name} LoRA layer:`);
        lora.push(...(await runLoraBench(rt, log, software ? { m: 64 } : {})));
      }
    }
    if (suite === 'model' || suite === 'all') {
      const dir = await mkdtemp(join(tmpdir(), 'kvant-bench-model-'));
      try {
        await writeExampleModel(join(dir, 'model'));
        for (const rt of runtimes) {
          if (rt.name === 'cuda-emu') continue; // an emulator: its timings say nothing
          const software = rt.name === 'webgpu' && /llvmpipe|swiftshader|lavapipe/i.test(rt.info().description);
          log(`\n${rt.name} generation:`);
          generation.push(await runGenerateBench(rt, join(dir, 'model'), log, software ? { newTokens: 16, iterations: 1 } : {}));
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      log('\nforward and forward+backward with LoRA:');
      modelBench = await runModelBench(runtimes, log);
    }
    if (suite === 'train' || suite === 'all') {
      log('\ntraining steps:');
      train = await runTrainBench(runtimes, log);
    }
  } finally {
    for (const rt of runtimes) rt.dispose();
  }  if (runtimes.length > 1) {
    const base = runtimes[0].name;
    log(`\nratios (median time on ${base} / on each runtime; > 1 means faster than ${base}):`);
    for (const r of results.filter((x) => x.runtime !== base)) {
      const b = results.find((x) => x.runtime === base && x.name === r.name);
      if (b) log(`  ${r.name.padEnd(42)} ${r.runtime} vs ${base}: ${(b.medianMs / r.medianMs).toFixed(2)}x`);
    }
  }
  const out = { machine, runtimes: runtimes.map((r) => r.info()), skipped, elements: n, results, ...(linalg ? { linalg } : {}), ...(lora.length ? { lora } : {}), ...(generation.length ? { generation } : {}), ...(modelBench ? { modelBench } : {}), ...(train ? { train } : {}), ...(nn ? { nn } : {}) };
  if (values['json-out']) {
    await writeFileAtomic(values['json-out'], `${JSON.stringify(out, null, 1)}\n`, { checkOutput: true, force: true });
    log(`\nwrote ${values['json-out']}`);
  }
  if (values.json) process.stdout.write(`${JSON.stringify(out, null, 1)}\n`);
  return 0;
}
