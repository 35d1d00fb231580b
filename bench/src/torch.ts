/**
 * PyTorch + PEFT on the CPU as the baseline of the model and train suites: the same model folder,
 * the same LoRA config, batch and thread count, timed by scripts/interop/torch_train_bench.py in
 * the same run. When python3, torch, transformers or peft is missing, the result says why instead.
 * The base is dense f32 there: bitsandbytes has no CPU build here, so torch has no 4-bit base.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export type TorchMode = 'forward' | 'fwdbwd' | 'train';

export interface TorchRequest {
  readonly model: string;
  readonly threads: number;
  readonly b: number;
  readonly t: number;
  /** [B·T] token ids; the labels are the same ids (transformers shifts them in the loss). */
  readonly inputIds: readonly number[];
  readonly r: number;
  readonly alpha: number;
  readonly lr: number;
  readonly modes: readonly TorchMode[];
  /** Minimum seconds timed per mode (default 1). */
  readonly minTimeS?: number;
}

export interface TorchModeResult {
  readonly medianS: number;
  readonly samples: number;
  readonly tokensPerS: number;
}

export type TorchBaseline =
  | {
      readonly ok: true;
      readonly versions: Readonly<Record<string, string>>;
      readonly threads: number;
      readonly trainableParams: number;
      /** Loss of the first forward (adapter B = 0, so the base model's loss). */
      readonly initialLoss: number;
      readonly results: Partial<Record<TorchMode, TorchModeResult>>;
      /** Peak RSS of the python process over every mode of the request. */
      readonly peakRssBytes: number;
    }
  | { readonly ok: false; readonly reason: string };

const SCRIPT = join(import.meta.dirname, '..', '..', 'scripts', 'interop', 'torch_train_bench.py');

/** Run the torch baseline of one model (every mode in one python process). */
export function torchBaseline(req: TorchRequest): TorchBaseline {
  const n = String(req.threads);
  // As for numpy: OpenBLAS work-arounds set on some of these machines slow a current torch.
  const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: n, MKL_NUM_THREADS: n, OPENBLAS_NUM_THREADS: n, TOKENIZERS_PARALLELISM: 'false' };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const input = JSON.stringify({
    model: req.model,
    threads: req.threads,
    b: req.b,
    t: req.t,
    input_ids: req.inputIds,
    r: req.r,
    alpha: req.alpha,
    lr: req.lr,
    modes: req.modes,
    min_time_s: req.minTimeS ?? 1,
    min_iters: 3,
    validate_steps: 4,
  });
  const r = spawnSync('python3', [SCRIPT], { env, input, encoding: 'utf8', timeout: 600_000, maxBuffer: 1 << 24 });
  if (r.error) return { ok: false, reason: `python3 could not run: ${r.error.message}` };
  if (r.status !== 0) {
    const last = (r.stderr || '').trim().split('\n').slice(-1)[0];
    return { ok: false, reason: /ModuleNotFoundError|ImportError/.test(last) ? `torch + transformers + peft are not installed: ${last}` : `the torch baseline failed: ${last}` };
  }
  const p = JSON.parse(r.stdout) as {
    versions: Record<string, string>;
    threads: number;
    trainable_params: number;
    initial_loss: number;
    results: Record<string, { median_s: number; samples: number; tokens_per_s: number }>;
    peak_rss_bytes: number;
  };
  const results: Partial<Record<TorchMode, TorchModeResult>> = {};
  for (const [mode, x] of Object.entries(p.results)) results[mode as TorchMode] = { medianS: x.median_s, samples: x.samples, tokensPerS: x.tokens_per_s };
  return { ok: true, versions: p.versions, threads: p.threads, trainableParams: p.trainable_params, initialLoss: p.initial_loss, results, peakRssBytes: p.peak_rss_bytes };
}

/**
 * Two baselines of the same request (one timed before kvant's rows, one after) merged: per mode the
 * faster, with every run's tokens/s kept in `runs`. On a shared machine torch's rate moved by 12x
 * between runs of the same command; kvant is compared with torch's best, the conservative choice.
 */
export function fasterTorch(a: TorchBaseline, b: TorchBaseline): TorchBaseline & { runs?: Partial<Record<TorchMode, number[]>> } {
  if (!a.ok) return b;
  if (!b.ok) return a;
  const results: Partial<Record<TorchMode, TorchModeResult>> = {};
  const runs: Partial<Record<TorchMode, number[]>> = {};
  for (const mode of new Set([...Object.keys(a.results), ...Object.keys(b.results)]) as Set<TorchMode>) {
    const x = a.results[mode];
    const y = b.results[mode];
    results[mode] = x && y ? (y.tokensPerS > x.tokensPerS ? y : x) : (x ?? y);
    runs[mode] = [x, y].filter((r) => r !== undefined).map((r) => r.tokensPerS);
  }
  return { ...a, results, peakRssBytes: Math.max(a.peakRssBytes, b.peakRssBytes), runs };
}
