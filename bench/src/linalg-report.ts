/**
 * Runs the linalg/optim benchmarks on each runtime (and wasm once more on one thread), times
 * numpy's sgemm in the same run, and reports the issue's ratios from that one run: wasm vs numpy,
 * wasm 2 threads vs 1, 4-bit vs dense matmul of the same shape, the optimizer steps as a fraction
 * of copy bandwidth, and each matmul as a fraction of its runtime's measured peak.
 */
import type { Runtime } from '@kvant/abi';
import { createRuntime } from '@kvant/runtimes';
import { FULL_SCALE, type LinalgScale, linalgBenches, linearShapes, PEAK_NAME, SMALL_SCALE, squareName } from './linalg-suites';
import { type NumpyBaseline, numpySgemm } from './numpy';
import { type BenchOptions, type BenchResult, runBenches } from './run-benches';

export interface Target {
  readonly what: string;
  /** The measured ratio, or undefined when a side is missing (with the reason). */
  readonly measured?: number;
  readonly target: string;
  readonly met?: boolean;
  readonly note?: string;
}

export interface LinalgReport {
  readonly numpy: NumpyBaseline;
  /** Runtimes whose linalg benches were not run, with the reason. */
  readonly skipped: Record<string, string>;
  readonly targets: readonly Target[];
}

/** Software runtimes get smaller linear-layer shapes (a run of minutes otherwise); the emulator is not timed. */
function scaleFor(rt: Runtime): LinalgScale | string {
  if (rt.name === 'cuda-emu') return 'an emulator (CUDA threads as CPU fibers): its timings say nothing about a GPU';
  const d = rt.info().details as { isFallbackAdapter?: boolean } | undefined;
  if (rt.name === 'webgpu' && (d?.isFallbackAdapter || /llvmpipe|swiftshader|lavapipe/i.test(rt.info().description))) return SMALL_SCALE;
  return FULL_SCALE;
}

const find = (results: readonly BenchResult[], runtime: string, name: string) => results.find((r) => r.runtime === runtime && r.name === name);

export async function runLinalgBenches(runtimes: readonly Runtime[], results: BenchResult[], options: BenchOptions): Promise<LinalgReport> {
  const log = options.log ?? (() => {});
  const skipped: Record<string, string> = {};
  const scales = new Map<string, LinalgScale>();
  for (const rt of runtimes) {
    const scale = scaleFor(rt);
    if (typeof scale === 'string') {
      skipped[rt.name] = scale;
      log(`\n${rt.name}: linalg benches skipped: ${scale}`);
      continue;
    }
    scales.set(rt.name, scale);
    const copy = find(results, rt.name, 'copy')?.gbPerS;
    log(`\n${rt.name} linalg${scale === SMALL_SCALE ? ` (software renderer: M = ${scale.m}, ${scale.square}³)` : ''}:`);
    results.push(...(await runBenches(rt, linalgBenches(scale), { ...options, copyGbPerS: copy })));
  }
  // wasm on one thread, next to its default (every core), for the thread-scaling ratio.
  const wasm = runtimes.find((r) => r.name === 'wasm');
  const wasmThreads = (wasm?.info().details as { threads?: number } | undefined)?.threads ?? 1;
  if (wasm && wasmThreads > 1) {
    const one = await createRuntime('wasm', { threads: 1 });
    try {
      log(`\nwasm 1 thread linalg:`);
      const list = linalgBenches(FULL_SCALE).filter((b) => b.name === squareName(FULL_SCALE) || b.name === linearShapes(FULL_SCALE)[0].dense);
      results.push(...(await runBenches(one, list, { ...options, label: 'wasm 1 thread', copyGbPerS: find(results, 'wasm', 'copy')?.gbPerS })));
    } finally {
      one.dispose();
    }
  }
  const cores = (await import('node:os')).availableParallelism();
  const sq = FULL_SCALE.square;
  const shapes = [
    { name: squareName(FULL_SCALE), m: sq, n: sq, k: sq, transB: false },
    ...linearShapes(FULL_SCALE).map((s) => ({ name: s.dense, m: FULL_SCALE.m, n: s.n, k: s.k, transB: true })),
  ];
  log(`\nnumpy sgemm (1 and ${cores} threads):`);
  const numpy = numpySgemm(shapes, [...new Set([1, cores])]);
  if (numpy.ok) for (const r of numpy.results) log(`  ${`numpy ${r.threads}t`.padEnd(12)} ${r.name.padEnd(46)} ${r.medianMs.toFixed(3).padStart(10)} ms ${r.gflopPerS.toFixed(2).padStart(8)} GFLOP/s`);
  else log(`  not measured: ${numpy.reason}`);

  const targets: Target[] = [];
  const ratio = (what: string, a: number | undefined, b: number | undefined, target: string, ok: (x: number) => boolean, note?: string) => {
    const measured = a !== undefined && b !== undefined && b > 0 ? a / b : undefined;
    targets.push({ what, measured, target, met: measured === undefined ? undefined : ok(measured), note: measured === undefined ? (note ?? 'a side was not measured') : note });
  };
  const square = squareName(FULL_SCALE);
  if (wasm) {
    const np = numpy.ok ? numpy.results.find((r) => r.name === square && r.threads === cores)?.gflopPerS : undefined;
    // About the most any wasm kernel can reach against numpy here: the best multiply-add rate wasm
    // showed in this run (its peak kernel, or a matmul when noise put one above it; no FMA in wasm
    // SIMD, 4 lanes) over numpy's sgemm (FMA, as wide as the CPU has).
    const wasmRates = results.filter((r) => r.runtime === 'wasm' && (r.kernel === 'linalg.peak_flops' || r.kernel.startsWith('linalg.matmul'))).map((r) => r.gflopPerS);
    const wasmBest = wasmRates.length ? Math.max(...wasmRates) : undefined;
    const ceiling = wasmBest !== undefined && np ? wasmBest / np : undefined;
    const unreachable = ceiling !== undefined && ceiling < 0.35 ? `unreachable on this CPU: wasm's best multiply-add rate in this run is ${ceiling.toFixed(3)} of numpy's sgemm` : undefined;
    ratio(`wasm (${wasmThreads} threads) matmul ${sq}³ / numpy sgemm (${cores} threads)`, find(results, 'wasm', square)?.gflopPerS, np, '>= 0.35', (x) => x >= 0.35, numpy.ok ? unreachable : numpy.reason);
    ratio(`ceiling: wasm's best multiply-add rate in this run (${wasmThreads} threads) / numpy sgemm (${cores} threads)`, wasmBest, np, '(report: about the most the ratio above can be)', () => true, numpy.ok ? undefined : numpy.reason);
    ratio(`wasm ${wasmThreads} threads / 1 thread, matmul ${sq}³`, find(results, 'wasm', square)?.gflopPerS, find(results, 'wasm 1 thread', square)?.gflopPerS, '>= 1.8', (x) => x >= 1.8, wasmThreads > 1 ? undefined : 'one core here');
  }
  for (const [name, scale] of scales) {
    for (const s of linearShapes(scale)) {
      ratio(`${name}: ${s.fourBit} time / dense time`, find(results, name, s.fourBit)?.medianMs, find(results, name, s.dense)?.medianMs, '<= 1.25', (x) => x <= 1.25);
    }
    for (const b of linalgBenches(scale).filter((x) => x.kernel.startsWith('optim.'))) {
      ratio(`${name}: ${b.name}, fraction of copy bandwidth`, find(results, name, b.name)?.fractionOfCopy, 1, b.kernel === 'optim.adamw_step' ? '>= 0.6' : '(no target)', (x) => b.kernel !== 'optim.adamw_step' || x >= 0.6);
    }
    const peak = find(results, name, PEAK_NAME)?.gflopPerS;
    ratio(`${name}: matmul ${scale.square}³, fraction of the measured peak`, find(results, name, squareName(scale))?.gflopPerS, peak, '(report)', () => true);
  }
  log('\ntargets (ratios from this run):');
  for (const t of targets) {
    const m = t.measured === undefined ? 'not measured' : t.measured.toFixed(3);
    log(`  ${t.what.padEnd(78)} ${m.padStart(12)}  target ${t.target}${t.met === false ? '  MISSED' : ''}${t.note ? `  (${t.note})` : ''}`);
  }
  return { numpy, skipped, targets };
}
