/**
 * Runs the nn benchmarks on each runtime and reports the ratios from the same run:
 * attention forward at T = 1024 as a fraction of that runtime's matmul rate (target >= 0.5), and
 * the element-wise kernels as fractions of that runtime's copy bandwidth for the same bytes (target
 * >= 0.6 on wasm; the fraction of the suite's 16 MiB copy is reported too).
 */
import { getKernel, type Runtime } from '@kvant/abi';
import { FULL_SCALE, linalgBenches, SMALL_SCALE, squareName } from './linalg-suites';
import type { Target } from './linalg-report';
import { attentionName, nnBenches } from './nn-suites';
import { type BenchOptions, type BenchResult, runBenches, selected } from './run-benches';

const isSoftware = (rt: Runtime) => rt.name === 'webgpu' && /llvmpipe|swiftshader|lavapipe/i.test(rt.info().description);
const find = (results: readonly BenchResult[], runtime: string, name: string) => results.find((r) => r.runtime === runtime && r.name === name);

export async function runNnBenches(runtimes: readonly Runtime[], results: BenchResult[], options: BenchOptions): Promise<Target[]> {
  const log = options.log ?? (() => {});
  const targets: Target[] = [];
  for (const rt of runtimes) {
    if (rt.name === 'cuda-emu') {
      log(`\ncuda-emu: nn benches skipped (an emulator: its timings say nothing about a GPU)`);
      continue;
    }
    const small = isSoftware(rt);
    const scale = small ? SMALL_SCALE : FULL_SCALE;
    const copy = find(results, rt.name, 'copy')?.gbPerS;
    log(`\n${rt.name} nn${small ? ' (software renderer: T <= 1024, fewer rows)' : ''}:`);
    const list = nnBenches(small).filter((b) => selected(b.name, options.only));
    // The matmul rate the attention is compared with (whatever --only says), unless the linalg
    // suite measured it already.
    const square = squareName(scale);
    if (list.some((b) => b.kernel === 'nn.attention') && !find(results, rt.name, square)) results.push(...(await runBenches(rt, linalgBenches(scale).filter((b) => b.name === square), { ...options, only: undefined, copyGbPerS: copy })));
    results.push(...(await runBenches(rt, list, { ...options, copyGbPerS: copy })));
    const matmul = find(results, rt.name, square)?.gflopPerS;
    for (const d of [64, 128].filter((x) => list.some((b) => b.name === attentionName('forward', 1024, x)))) {
      const a = find(results, rt.name, attentionName('forward', 1024, d))?.gflopPerS;
      const measured = a !== undefined && matmul ? a / matmul : undefined;
      targets.push({ what: `${rt.name}: attention forward T=1024 D=${d} / matmul ${scale.square}³ GFLOP/s`, measured, target: '>= 0.5', met: measured === undefined ? undefined : measured >= 0.5 });
    }
    for (const b of list.filter((x) => !x.kernel.startsWith('nn.attention'))) {
      // Bandwidth depends on the bytes streamed: the suite's 16 MiB copy can sit in a large L3
      // (300 MB on the Xeon of bench/results), while these kernels stream 100 MB to 1 GB from
      // memory. So each is compared with a copy of its own bytes (half read, half written), timed
      // in this run right after it; the ratio to the 16 MiB copy is printed too.
      const bytes = getKernel(b.kernel).cost(b.params).bytes;
      const words = Math.round(bytes / 8);
      const copyName = `copy of ${(bytes / 2 ** 20).toFixed(0)} MiB (the bytes of ${b.name})`;
      results.push(...(await runBenches(rt, [{ name: copyName, kernel: 'mem.copy', params: { words }, inputs: { src: { gen: 'words' } }, check: { words: 4099 }, heavy: true }], options)));
      const kernel = find(results, rt.name, b.name)?.gbPerS;
      const same = find(results, rt.name, copyName)?.gbPerS;
      const measured = kernel !== undefined && same ? kernel / same : undefined;
      const target = rt.name === 'wasm' ? '>= 0.6' : '(report)';
      targets.push({ what: `${rt.name}: ${b.name}, fraction of a copy of the same bytes`, measured, target, met: measured === undefined ? undefined : rt.name !== 'wasm' || measured >= 0.6 });
      targets.push({ what: `${rt.name}: ${b.name}, fraction of the 16 MiB copy`, measured: find(results, rt.name, b.name)?.fractionOfCopy, target: '(report)', met: true });
    }
  }
  log('\nnn targets (ratios from this run):');
  for (const t of targets) log(`  ${t.what.padEnd(78)} ${(t.measured === undefined ? 'not measured' : t.measured.toFixed(3)).padStart(12)}  target ${t.target}${t.met === false ? '  MISSED' : ''}`);
  return targets;
}
