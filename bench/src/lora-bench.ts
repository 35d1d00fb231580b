/**
 * A LoRA layer's cost next to its base layer: forward + backward (dA, dB and dx) of LoraLinear at
 * K = N = 4096, M = 512, r = 16 over a dense f32 and a 4-bit NF4 base, against the base's forward +
 * input gradient alone. Target (issue 10): the adapter adds at most 15% (its FLOPs are ~1.6%).
 *
 * Validates before timing: at a small shape, a fresh adapter must leave the output bit-identical
 * to the base, and a non-zero one must add s·B·A·x (checked on the host).
 *
 * Timing (robust on a shared machine): one tinybench run whose every iteration times the base and
 * the layer back to back, alternating which goes first, so both see the same machine load; the
 * reported overhead is the median of the per-iteration ratios (layer / base - 1). The layer runs as
 * a trainer would: forwardInto the caller's y, backward into the caller's dx, nothing allocated.
 *
 *   import { runLoraBench } from './lora-bench';
 *   await runLoraBench(rt, (line) => console.log(line));
 */
import { downloadF32, type Runtime, upload } from '@kvant/abi';
import { type BaseWeight, DenseBase, FourBitBase, LoraLinear } from '@kvant/lora';
import { Bench } from 'tinybench';

export interface LoraBenchOptions {
  readonly m?: number;
  readonly k?: number;
  readonly n?: number;
  readonly r?: number;
  /** Timed (base, layer) pairs, at least (median ratio reported). Default 7. */
  readonly iterations?: number;
  /** Minimum time of the tinybench run in ms (more pairs when they are fast). Default 400. */
  readonly timeMs?: number;
  /** Which bases (default both). */
  readonly bases?: readonly ('f32' | 'nf4')[];
}

export interface LoraBenchResult {
  readonly runtime: string;
  readonly base: 'f32' | 'nf4';
  readonly shape: { m: number; k: number; n: number; r: number };
  /** Median seconds of base forward + input gradient. */
  readonly baseSeconds: number;
  /** Median seconds of LoraLinear forward + backward (dA, dB, dx). */
  readonly loraSeconds: number;
  /** Median over the interleaved pairs of lora / base - 1. */
  readonly adapterShare: number;
  /** The pairs timed, and the spread of their ratios (first and third quartile of lora / base - 1). */
  readonly pairs: number;
  readonly adapterShareQuartiles: readonly [number, number];
  /** The adapter's FLOPs as a share of the base's: (4·M·R·(K+N) + 2·M·N·R…) / (4·M·N·K). */
  readonly adapterFlopShare: number;
  readonly baseGflops: number;
  readonly meetsTarget: boolean;
}

/** Seeded values in [-scale, scale). */
function values(n: number, seed: number, scale: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    out[i] = ((a / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

async function makeBase(rt: Runtime, kind: 'f32' | 'nf4', n: number, k: number): Promise<BaseWeight> {
  const w = values(n * k, 1, 0.02);
  return kind === 'f32' ? DenseBase.fromValues(rt, w, [n, k]) : FourBitBase.quantize(rt, w, [n, k], { quantType: 'nf4', blocksize: 64 });
}

const quantile = (sorted: readonly number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

/**
 * Time `base` and `layer` in pairs inside one tinybench task (warm-up, then at least `iterations`
 * pairs and `timeMs`), alternating the order; per-pair seconds of each.
 */
async function pairs(rt: Runtime, iterations: number, timeMs: number, base: () => Promise<void>, layer: () => Promise<void>): Promise<{ base: number[]; layer: number[] }> {
  const out = { base: [] as number[], layer: [] as number[] };
  const timed = async (body: () => Promise<void>): Promise<number> => {
    const t0 = performance.now();
    await body();
    await rt.flush();
    return (performance.now() - t0) / 1000;
  };
  let call = 0;
  const bench = new Bench({ time: timeMs, iterations, warmupIterations: 1, warmupTime: 0 });
  bench.add('base and layer', async () => {
    // The warm-up call is not kept.
    const first = call++ % 2 === 0;
    const a = first ? await timed(base) : 0;
    const l = await timed(layer);
    const b = first ? a : await timed(base);
    if (call > 1) {
      out.base.push(b);
      out.layer.push(l);
    }
  });
  await bench.run();
  const r = bench.tasks[0].result;
  if (r.state !== 'completed') throw new Error(`lora bench: the timed run ended ${r.state}`);
  return out;
}

/** The small-shape checks that must pass before any timing. */
async function validate(rt: Runtime, kind: 'f32' | 'nf4'): Promise<void> {
  const [m, k, n, r] = [4, 64, 48, 4];
  const base = await makeBase(rt, kind, n, k);
  const layer = new LoraLinear(base);
  const x = upload(rt, 'f32', [m, k], values(m * k, 2, 1));
  const alone = rt.alloc('f32', [m, n]);
  base.forward(x, alone, m);
  await layer.addAdapter('fresh', { r, loraAlpha: 8 });
  const fresh = await downloadF32((await layer.forward(x)).y);
  const want = await downloadF32(alone);
  if (!fresh.every((v, i) => Object.is(v, want[i]))) throw new Error(`lora bench: a fresh adapter changed the ${kind} base output on ${rt.name}`);
  const a = await layer.addAdapter('full', { r, loraAlpha: 8, init: false, seed: 3 });
  layer.setActive('full');
  const y = await downloadF32((await layer.forward(x)).y);
  const [A, B, xv] = [await downloadF32(a.A), await downloadF32(a.B), await downloadF32(x)];
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let d = 0;
      for (let t = 0; t < r; t++) {
        let u = 0;
        for (let c = 0; c < k; c++) u += xv[i * k + c] * A[t * k + c];
        d += B[j * r + t] * u;
      }
      const wantY = want[i * n + j] + a.scaling * d;
      worst = Math.max(worst, Math.abs(y[i * n + j] - wantY));
      scale = Math.max(scale, Math.abs(wantY));
    }
  }
  if (worst > 1e-5 * scale) throw new Error(`lora bench: the ${kind} LoRA output is off by ${worst} on ${rt.name}`);
  layer.free();
}

/** Time the layer against its base on `rt`; one line per base through `log`. */
export async function runLoraBench(rt: Runtime, log: (line: string) => void, options: LoraBenchOptions = {}): Promise<LoraBenchResult[]> {
  const { m = 512, k = 4096, n = 4096, r = 16, iterations = 7, timeMs = 400 } = options;
  const results: LoraBenchResult[] = [];
  for (const kind of options.bases ?? (['f32', 'nf4'] as const)) {
    await validate(rt, kind);
    const base = await makeBase(rt, kind, n, k);
    const x = upload(rt, 'f32', [m, k], values(m * k, 4, 1));
    const dy = upload(rt, 'f32', [m, n], values(m * n, 5, 1));
    const y = rt.alloc('f32', [m, n]);
    const dx = rt.alloc('f32', [m, k]);
    const layer = new LoraLinear(base);
    await layer.addAdapter('default', { r, loraAlpha: 2 * r, init: false, seed: 1 });
    const ly = rt.alloc('f32', [m, n]);
    const ldx = rt.alloc('f32', [m, k]);
    const timed = await pairs(
      rt,
      iterations,
      timeMs,
      async () => {
        base.forward(x, y, m);
        base.inputGrad(dy, dx, m);
      },
      async () => {
        const saved = await layer.forwardInto(x, ly, { training: true });
        await layer.backward(saved, dy, { dx: ldx });
      },
    );
    const ratios = timed.layer.map((l, i) => l / timed.base[i] - 1).sort((p, q) => p - q);
    const sortedBase = [...timed.base].sort((p, q) => p - q);
    const sortedLayer = [...timed.layer].sort((p, q) => p - q);
    const baseSeconds = quantile(sortedBase, 0.5);
    const loraSeconds = quantile(sortedLayer, 0.5);
    const adapterShare = quantile(ratios, 0.5);
    const baseFlops = 4 * m * n * k;
    const adapterFlops = 2 * m * r * k + 2 * m * n * r + 2 * n * r * m + 2 * m * r * n + 2 * r * k * m + 2 * m * k * r;
    const res: LoraBenchResult = {
      runtime: rt.name,
      base: kind,
      shape: { m, k, n, r },
      baseSeconds,
      loraSeconds,
      adapterShare,
      pairs: ratios.length,
      adapterShareQuartiles: [quantile(ratios, 0.25), quantile(ratios, 0.75)],
      adapterFlopShare: adapterFlops / baseFlops,
      baseGflops: baseFlops / baseSeconds / 1e9,
      meetsTarget: adapterShare <= 0.15,
    };
    results.push(res);
    log(
      `lora ${rt.name} ${kind} M=${m} K=${k} N=${n} r=${r}: base fwd+dx ${(1000 * baseSeconds).toFixed(1)} ms (${res.baseGflops.toFixed(1)} GFLOP/s), ` +
        `LoRA fwd+bwd ${(1000 * loraSeconds).toFixed(1)} ms: adapter ${(100 * res.adapterShare).toFixed(1)}% ` +
        `(median of ${res.pairs} interleaved pairs, quartiles ${(100 * res.adapterShareQuartiles[0]).toFixed(1)}%..${(100 * res.adapterShareQuartiles[1]).toFixed(1)}%) ` +
        `(FLOPs +${(100 * res.adapterFlopShare).toFixed(1)}%; target ≤ 15%: ${res.meetsTarget ? 'met' : 'NOT met'})`,
    );
    layer.free();
    for (const t of [x, dy, y, dx, ly, ldx]) rt.free(t);
  }
  return results;
}
