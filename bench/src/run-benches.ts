/**
 * Run kernel benchmarks on runtimes with tinybench: validate each kernel's output against the
 * reference first, then time dispatch + flush on device-resident tensors, and report median
 * time, GB/s, GFLOP/s and the fraction of the runtime's own measured copy bandwidth.
 */
import { bindingElements, getKernel, KvantError, type Runtime, type Tensor } from '@kvant/abi';
import { caseInputs, checkCase, describeFailure } from '@kvant/conformance';
import { Bench } from 'tinybench';
import type { KernelBench } from './suites';

export interface BenchResult {
  /** The runtime's name, or the label the run was given (e.g. `wasm 1 thread`). */
  readonly runtime: string;
  readonly name: string;
  readonly kernel: string;
  readonly params: Record<string, number>;
  readonly medianMs: number;
  readonly samples: number;
  readonly gbPerS: number;
  readonly gflopPerS: number;
  /** gbPerS / this runtime's copy GB/s (mem.copy). */
  readonly fractionOfCopy: number;
  /** Output checked against the reference before timing. */
  readonly validated: boolean;
}

export interface BenchOptions {
  /** Minimum time per task in ms. */
  readonly timeMs?: number;
  readonly log?: (line: string) => void;
  /** Name the results by this instead of the runtime's name (two configurations of one runtime). */
  readonly label?: string;
  /** mem.copy GB/s of this runtime, when the list does not start with the copy benchmark. */
  readonly copyGbPerS?: number;
  /** Run only the benchmarks whose name contains this (case-insensitive); copies always run. */
  readonly only?: string;
}

/** Whether `--only` keeps the benchmark called `name` (every one without `--only`). */
export function selected(name: string, only: string | undefined): boolean {
  return only === undefined || name.toLowerCase().includes(only.toLowerCase());
}

/** Allocate and fill the inputs of a benchmark on `rt`; outputs are allocated empty. */
function setup(rt: Runtime, b: KernelBench) {
  const spec = getKernel(b.kernel);
  const inputs = caseInputs(spec, { kernel: b.kernel, name: b.name, params: b.params, inputs: b.inputs, seed: 42 });
  const tensors: Record<string, Tensor> = {};
  for (const binding of spec.bindings) {
    const t = rt.alloc(binding.dtype, [bindingElements(spec, binding, b.params)]);
    if (binding.access !== 'write' && !binding.scratch) rt.write(t, inputs[binding.name]);
    tensors[binding.name] = t;
  }
  return { spec, inputs, tensors };
}

/** Validate through the conformance runner (the one harness): a wrong kernel is never timed. */
async function validate(rt: Runtime, b: KernelBench): Promise<void> {
  const r = await checkCase(rt, { kernel: b.kernel, name: b.name, params: b.check ?? b.params, inputs: b.checkInputs ?? b.inputs, seed: 42 });
  if (r.status !== 'pass') throw new Error(`${describeFailure(r)}; not timing a wrong kernel`);
}

/** Benchmark every entry on one runtime. The first entry must be the copy benchmark. */
export async function runBenches(rt: Runtime, benches: readonly KernelBench[], options: BenchOptions = {}): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  let copyGbPerS = options.copyGbPerS ?? 0;
  const label = options.label ?? rt.name;
  for (const b of benches) {
    if (b.kernel !== 'mem.copy' && !selected(b.name, options.only)) continue;
    let s: ReturnType<typeof setup>;
    try {
      s = setup(rt, b);
    } catch (e) {
      // Inputs this runtime cannot hold (an allocation over its limits): reported, not fatal.
      if (!(e instanceof KvantError)) throw e;
      options.log?.(`${label.padEnd(14)} ${b.name.padEnd(46)} not measured: ${e.message}`);
      continue;
    }
    try {
      await validate(rt, b);
      const bench = new Bench({ time: options.timeMs ?? 400, warmupTime: b.heavy ? 0 : 50, warmupIterations: b.heavy ? 1 : undefined, iterations: b.heavy ? 3 : 5 });
      bench.add(b.name, async () => {
        rt.dispatch(b.kernel, s.tensors, b.params);
        await rt.flush();
      });
      await bench.run();
      const task = bench.tasks[0];
      const r = task.result;
      if (r.state !== 'completed') {
        // A kernel this runtime refuses at this size (e.g. a binding over the adapter's limit) is
        // reported and skipped; the other benchmarks still run.
        const why = (r as { error?: unknown }).error;
        options.log?.(`${label.padEnd(14)} ${b.name.padEnd(46)} not measured: ${why instanceof Error ? why.message.split('\n')[0] : r.state}`);
        continue;
      }
      const medianMs = r.latency.p50;
      const cost = s.spec.cost(b.params);
      const gbPerS = cost.bytes / (medianMs * 1e-3) / 1e9;
      if (b.kernel === 'mem.copy') copyGbPerS = gbPerS;
      const result: BenchResult = {
        runtime: label,
        name: b.name,
        kernel: b.kernel,
        params: { ...b.params },
        medianMs,
        samples: r.latency.samplesCount,
        gbPerS,
        gflopPerS: cost.flops / (medianMs * 1e-3) / 1e9,
        fractionOfCopy: copyGbPerS ? gbPerS / copyGbPerS : Number.NaN,
        validated: true,
      };
      results.push(result);
      const rate = cost.flops >= 4 * cost.bytes ? `${result.gflopPerS.toFixed(2).padStart(8)} GFLOP/s` : `${gbPerS.toFixed(2).padStart(8)} GB/s ${(result.fractionOfCopy * 100).toFixed(0).padStart(5)}% of copy`;
      options.log?.(`${label.padEnd(14)} ${b.name.padEnd(46)} ${medianMs.toFixed(3).padStart(10)} ms ${rate}`);
    } finally {
      for (const t of Object.values(s.tensors)) rt.free(t);
    }
  }
  return results;
}
