/**
 * The benchmark command: `pnpm bench [--runtime R]... [--n N] [--time MS] [--json FILE]`.
 * Runs the quant kernels on each runtime, with GB/s and the fraction of that runtime's copy
 * bandwidth, and runtime-vs-runtime ratios from one run. Results are JSON with a machine
 * description (bench/results/ holds committed runs). Also run by the portable kit.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { type Runtime, UnsupportedError } from '@kvant/abi';
import { createRuntime } from '@kvant/runtimes';
import { describeMachine } from './machine';
import { type BenchResult, runBenches } from './run-benches';
import { BENCH_N, quantBenches } from './suites';

const USAGE = `usage: pnpm bench [--runtime R]... [--n ELEMENTS] [--time MS] [--json FILE]
  --runtime R   runtimes to compare (default: wasm, plus webgpu and cuda where they start);
                the first one is the baseline of the ratios
  --n N         elements per kernel (default ${BENCH_N})
  --time MS     minimum time per kernel (default 400)
  --json FILE   write results with the machine description`;

export async function benchMain(argv: string[], log: (line: string) => void = console.log): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      runtime: { type: 'string', multiple: true },
      n: { type: 'string' },
      json: { type: 'string' },
      time: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    log(USAGE);
    return 0;
  }
  const explicit = values.runtime ?? [];
  const names = explicit.length ? explicit : ['wasm', 'webgpu', 'cuda'];
  const n = values.n ? Number(values.n) : BENCH_N;
  const runtimes: Runtime[] = [];
  const skipped: Record<string, string> = {};
  for (const name of names) {
    try {
      runtimes.push(await createRuntime(name));
    } catch (e) {
      if (!(e instanceof UnsupportedError) || explicit.length) throw e;
      skipped[name] = e.reason;
      log(`skip ${name}: ${e.reason}`);
    }
  }
  const machine = describeMachine();
  log(`machine: ${machine.cpu} x${machine.cores}, ${machine.memoryGiB} GiB, ${machine.os}, Node ${machine.node}`);
  const results: BenchResult[] = [];
  try {
    for (const rt of runtimes) {
      log(`\n${rt.name}: ${rt.info().description}`);
      results.push(...(await runBenches(rt, quantBenches(n), { log, timeMs: values.time ? Number(values.time) : undefined })));
    }
  } finally {
    for (const rt of runtimes) rt.dispose();
  }
  if (runtimes.length > 1) {
    const base = runtimes[0].name;
    log(`\nratios (median time on ${base} / on each runtime; > 1 means faster than ${base}):`);
    for (const r of results.filter((x) => x.runtime !== base)) {
      const b = results.find((x) => x.runtime === base && x.name === r.name);
      if (b) log(`  ${r.name.padEnd(42)} ${r.runtime} vs ${base}: ${(b.medianMs / r.medianMs).toFixed(2)}x`);
    }
  }
  if (values.json) {
    const out = { machine, runtimes: runtimes.map((r) => r.info()), skipped, elements: n, results };
    mkdirSync(dirname(values.json), { recursive: true });
    const tmp = `${values.json}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(out, null, 1)}\n`);
    renameSync(tmp, values.json);
    log(`\nwrote ${values.json}`);
  }
  return 0;
}
