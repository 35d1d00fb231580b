/**
 * `pnpm bench [--runtime R]... [--n N] [--json FILE]`: the quant kernels on each runtime, with
 * GB/s and the fraction of that runtime's copy bandwidth, and runtime-vs-runtime ratios from
 * one run. Results are JSON with a machine description (bench/results/ holds committed runs).
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { UnsupportedError, type Runtime } from '@kvant/abi';
import { createRuntime } from '@kvant/runtimes';
import { describeMachine } from './src/machine';
import { type BenchResult, runBenches } from './src/run-benches';
import { BENCH_N, quantBenches } from './src/suites';

const { values } = parseArgs({
  options: {
    runtime: { type: 'string', multiple: true },
    n: { type: 'string' },
    json: { type: 'string' },
    time: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log('usage: pnpm bench [--runtime R]... [--n ELEMENTS] [--time MS] [--json FILE]\n  default runtimes: wasm, plus webgpu, cuda-emu and cuda where they start');
  process.exit(0);
}
const explicit = values.runtime ?? [];
const names = explicit.length ? explicit : ['wasm', 'webgpu', 'cuda'];
const n = values.n ? Number(values.n) : BENCH_N;
const runtimes: Runtime[] = [];
for (const name of names) {
  try {
    runtimes.push(await createRuntime(name));
  } catch (e) {
    if (!(e instanceof UnsupportedError) || explicit.length) throw e;
    console.log(`skip ${name}: ${e.reason}`);
  }
}
const machine = describeMachine();
console.log(`machine: ${machine.cpu} x${machine.cores}, ${machine.memoryGiB} GiB, ${machine.os}, Node ${machine.node}`);
const results: BenchResult[] = [];
for (const rt of runtimes) {
  console.log(`\n${rt.name}: ${rt.info().description}`);
  results.push(...(await runBenches(rt, quantBenches(n), { log: console.log, timeMs: values.time ? Number(values.time) : undefined })));
}
if (runtimes.length > 1) {
  console.log('\nratios (median time of the first runtime / each runtime; > 1 means faster than the first):');
  const base = runtimes[0].name;
  for (const r of results.filter((x) => x.runtime !== base)) {
    const b = results.find((x) => x.runtime === base && x.name === r.name);
    if (b) console.log(`  ${r.name.padEnd(42)} ${r.runtime} vs ${base}: ${(b.medianMs / r.medianMs).toFixed(2)}x`);
  }
}
const out = { machine, runtimes: runtimes.map((r) => r.info()), elements: n, results };
for (const rt of runtimes) rt.dispose();
if (values.json) {
  mkdirSync(dirname(values.json), { recursive: true });
  const tmp = `${values.json}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(out, null, 1)}\n`);
  renameSync(tmp, values.json);
  console.log(`\nwrote ${values.json}`);
}
