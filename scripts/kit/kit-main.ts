/**
 * The portable conformance kit's entry point (bundled into kvant-kit.mjs by build-kit.ts).
 * On a Linux x86-64 machine with nothing but an NVIDIA driver: runs the conformance suite on
 * cuda, webgpu (Dawn over Vulkan on the same GPU) and wasm, compares them with the reference and
 * with each other, runs the runtime benchmarks, prints the tables and writes JSON results.
 *
 * usage: run.sh [--out DIR] [--runtime R]... [--require R]... [--allow-unsupported] [--no-bench] [--bench-suite S] [--n ELEMENTS]
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchMain, describeMachine } from '@kvant/bench';
import { main as kvant } from '@kvant/cli';
import { probeRuntime } from '@kvant/runtimes';

const here = dirname(fileURLToPath(import.meta.url));
process.env.KVANT_CUDA_ADDON_DIR ??= join(here, 'addons');
if (!process.env.XDG_RUNTIME_DIR) {
  process.env.XDG_RUNTIME_DIR = join(here, '.xdg');
  mkdirSync(process.env.XDG_RUNTIME_DIR, { recursive: true, mode: 0o700 });
}

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    runtime: { type: 'string', multiple: true },
    require: { type: 'string', multiple: true },
    'no-bench': { type: 'boolean' },
    'bench-suite': { type: 'string' },
    'allow-unsupported': { type: 'boolean' },
    n: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(`usage: run.sh [--out DIR] [--runtime R]... [--require R]... [--allow-unsupported] [--no-bench] [--bench-suite S] [--n ELEMENTS]
  --out DIR             where results go (default ./kvant-results)
  --runtime R           runtimes to check (default cuda, webgpu, wasm); one that is absent here (no
                        driver, no adapter) is reported as not available; one that crashes while
                        starting fails the run
  --require R           fail when R is not available (e.g. --require cuda on a GPU machine)
  --allow-unsupported   a kernel that a runtime reports unsupported does not fail the run
  --no-bench            conformance only
  --bench-suite S       quant, linalg or all (default): which benchmarks run
  --n N                 elements per benchmark kernel`);
  process.exit(0);
}

const out = resolve(values.out ?? 'kvant-results');
mkdirSync(out, { recursive: true });
const wanted = [...new Set([...(values.runtime ?? ['cuda', 'webgpu', 'wasm']), ...(values.require ?? [])])];
const available: string[] = [];
const missing: Record<string, string> = {};
const crashed: Record<string, string> = {};
for (const name of wanted) {
  const probe = await probeRuntime(name);
  if (probe.status === 'available') available.push(name);
  else if (probe.status === 'absent') missing[name] = probe.reason;
  else crashed[name] = probe.error;
}
const machine = { ...describeMachine(), runtimesAvailable: available, runtimesMissing: missing, runtimesCrashed: crashed };
writeFileSync(join(out, 'machine.json'), `${JSON.stringify(machine, null, 1)}\n`);
console.log(`kvant kit: ${machine.cpu} x${machine.cores}, ${machine.os}`);
for (const [name, reason] of Object.entries(missing)) console.log(`  ${name}: not available: ${reason}`);
let code = 0;
for (const [name, error] of Object.entries(crashed)) {
  console.log(`FAIL: ${name} crashed while starting: ${error}`);
  code = 1;
}
for (const r of values.require ?? []) {
  if (missing[r]) {
    console.log(`FAIL: ${r} is required: ${missing[r]}`);
    code = 1;
  }
}
if (available.length) {
  const args = ['conformance', '--json-out', join(out, 'conformance.json'), '--table', join(out, 'support.md'), '--quiet'];
  if (values['allow-unsupported']) args.push('--allow-unsupported');
  for (const r of available) args.push('--runtime', r);
  code ||= await kvant(args);
  if (!values['no-bench']) {
    const bargs = ['--json-out', join(out, 'bench.json')];
    for (const r of available) bargs.push('--runtime', r);
    if (values.n) bargs.push('--n', values.n);
    if (values['bench-suite']) bargs.push('--suite', values['bench-suite']);
    code ||= await benchMain(bargs);
  }
}
console.log(`\nresults in ${out}${existsSync(join(out, 'bench.json')) ? ' (machine.json, conformance.json, support.md, bench.json)' : ''}`);
process.exit(code);
