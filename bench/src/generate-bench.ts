/**
 * Generation tokens/s on the example model (@kvant/formats' generateExampleModel: Llama layout,
 * C 256, I 688, L 4, H 8, Hkv 4, V 1024), with the KV cache (a prefill, then one token per step
 * through nn.attention_decode) and without it (the full forward over the whole sequence every
 * step), greedy, EOS ignored so both make exactly `newTokens` tokens.
 *
 * Validates before timing: both paths must produce the same tokens (they compute the same logits
 * bit for bit). Reports tokens/s of each path (prompt included in the time, as a user waits for it)
 * and the ratio, from one run.
 *
 *   import { runGenerateBench } from './generate-bench';
 *   await runGenerateBench(rt, modelDir, (line) => console.log(line));
 */
import type { Runtime } from '@kvant/abi';
import { generateExampleModel } from '@kvant/formats';
import { Decoder, generate, kvCacheBytes } from '@kvant/model';

export interface GenerateBenchOptions {
  /** Prompt tokens (default 32). */
  readonly promptTokens?: number;
  /** New tokens per run (default 64). */
  readonly newTokens?: number;
  /** Timed runs per path (median reported; default 3). */
  readonly iterations?: number;
}

export interface GenerateBenchResult {
  readonly runtime: string;
  readonly promptTokens: number;
  readonly newTokens: number;
  /** Median seconds of one generate call. */
  readonly cachedSeconds: number;
  readonly uncachedSeconds: number;
  readonly cachedTokensPerSecond: number;
  readonly uncachedTokensPerSecond: number;
  /** uncached time / cached time. */
  readonly speedup: number;
  /** Bytes of the KV cache of one run (prompt + new tokens). */
  readonly cacheBytes: number;
}

/** Write the example model into `dir` (a fresh folder). */
export async function writeExampleModel(dir: string): Promise<void> {
  await generateExampleModel(dir, { force: true });
}

async function median(iterations: number, body: () => Promise<void>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await body();
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** Time greedy generation with and without the KV cache on one runtime. */
export async function runGenerateBench(rt: Runtime, modelDir: string, log: (line: string) => void, options: GenerateBenchOptions = {}): Promise<GenerateBenchResult> {
  const promptTokens = options.promptTokens ?? 32;
  const newTokens = options.newTokens ?? 64;
  const iterations = options.iterations ?? 3;
  const model = await Decoder.fromFolder(rt, modelDir);
  try {
    const v = model.config.vocab;
    const prompt = Array.from({ length: promptTokens }, (_, i) => (i * 131 + 7) % v);
    const opts = { maxNewTokens: newTokens, eosTokenIds: [] as number[] };
    // Validate: the same tokens both ways (this also warms up both paths).
    const a = await generate(model, prompt, opts);
    const b = await generate(model, prompt, { ...opts, cache: false });
    if (a.tokenIds.length !== newTokens || a.tokenIds.join() !== b.tokenIds.join()) {
      throw new Error(`generation bench on ${rt.name}: cached and uncached tokens differ (${a.tokenIds.join(',')} vs ${b.tokenIds.join(',')})`);
    }
    const cachedSeconds = await median(iterations, async () => void (await generate(model, prompt, opts)));
    const uncachedSeconds = await median(iterations, async () => void (await generate(model, prompt, { ...opts, cache: false })));
    const r: GenerateBenchResult = {
      runtime: rt.name,
      promptTokens,
      newTokens,
      cachedSeconds,
      uncachedSeconds,
      cachedTokensPerSecond: newTokens / cachedSeconds,
      uncachedTokensPerSecond: newTokens / uncachedSeconds,
      speedup: uncachedSeconds / cachedSeconds,
      cacheBytes: kvCacheBytes(model.config, promptTokens + newTokens),
    };
    log(
      `  example model, ${promptTokens} prompt + ${newTokens} new tokens: KV cache ${r.cachedTokensPerSecond.toFixed(1)} tokens/s, ` +
        `full forward per token ${r.uncachedTokensPerSecond.toFixed(1)} tokens/s, speedup ${r.speedup.toFixed(2)}x (cache ${(r.cacheBytes / 1024).toFixed(0)} KiB)`,
    );
    return r;
  } finally {
    model.dispose();
  }
}
