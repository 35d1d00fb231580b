/**
 * Issue 12's memory target, measured once by hand (too slow for CI): loading a ~2 GB sharded f32
 * Llama-shaped model straight into NF4 (+ double quant) on the wasm runtime keeps the process's
 * peak RSS under 1.2 GB, because each linear weight is quantized right after it is read and its
 * f32 copy dropped before the next one.
 *
 *   pnpm exec tsx scripts/measure-nf4-load.ts [--dir DIR] [--keep]
 *
 * Generates the model into DIR (default .cache/nf4-load-2gb; C 1536, I 4096, L 16, H 12, Hkv 4,
 * V 32000, untied: 501M parameters, 2.0 GB of f32 in 8 shards; needs ~2 GB of disk and ~5 GB of
 * memory while generating), loads it in a fresh child process (so its peak RSS is the load's
 * alone), prints that peak, the wasm heap and the bytes the weights hold on the runtime, then deletes
 * the model unless --keep. The peak is VmHWM of /proc/self/status: Linux carries getrusage's maxRSS
 * (`process.resourceUsage().maxRSS`) over from the parent through fork + exec, and the parent has
 * just held the generated 2 GB; maxRSS is printed next to it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateExampleModel } from '@kvant/formats';
import { Decoder } from '@kvant/model';
import { createRuntime } from '@kvant/runtimes';

const SELF = fileURLToPath(import.meta.url);
const MARK = 'nf4-load-result ';
const SIZE = { hidden_size: 1536, intermediate_size: 4096, num_hidden_layers: 16, num_attention_heads: 12, num_key_value_heads: 4, vocab_size: 32000 };
const TARGET_BYTES = 1.2e9;

/** This process image's peak RSS (VmHWM, Linux); maxRSS where /proc is missing. */
function peakRss(): number {
  const m = existsSync('/proc/self/status') ? /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8')) : null;
  return m ? Number(m[1]) * 1024 : process.resourceUsage().maxRSS * 1024;
}

/** The child: load `dir` into NF4 on wasm and print what it cost. */
async function load(dir: string): Promise<void> {
  const rt = await createRuntime('wasm');
  const startRss = peakRss();
  const t0 = performance.now();
  const d = await Decoder.fromFolder(rt, dir, { quant: { quantType: 'nf4', doubleQuant: true } });
  const seconds = (performance.now() - t0) / 1000;
  const heap = (rt.info().details as { memoryBytes?: number } | undefined)?.memoryBytes ?? 0;
  const out = { seconds, startRss, peakRss: peakRss(), maxRss: process.resourceUsage().maxRSS * 1024, wasmHeap: heap, deviceBytes: d.loadReport?.deviceBytes ?? 0, storage: d.loadReport?.linearStorage };
  d.dispose();
  rt.dispose();
  process.stdout.write(`${MARK}${JSON.stringify(out)}\n`);
  process.exit(0);
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { dir: { type: 'string' }, keep: { type: 'boolean' } }, strict: true });
  const dir = values.dir ?? join(import.meta.dirname, '..', '.cache', 'nf4-load-2gb');
  const gb = (x: number) => `${(x / 1e9).toFixed(3)} GB`;
  try {
    if (!existsSync(join(dir, 'config.json'))) {
      console.log(`generating a 2 GB f32 model into ${dir} (8 shards)…`);
      const t0 = performance.now();
      const s = await generateExampleModel(dir, { size: SIZE, f32: true, shards: 8, force: true, outliers: 0 });
      console.log(`  ${(s.parameters / 1e6).toFixed(1)}M parameters, ${gb(s.weightBytes)} of weights in ${s.files.filter((f) => f.endsWith('.safetensors')).length} shards, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
    console.log('loading it into NF4 + double quant on wasm, in a fresh process…');
    const r = spawnSync(process.execPath, [...process.execArgv, SELF, '--load', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    const line = r.stdout.split('\n').find((l) => l.startsWith(MARK));
    if (r.status !== 0 || !line) {
      console.error(`the loading process failed (status ${r.status})`);
      return 1;
    }
    const x = JSON.parse(line.slice(MARK.length)) as { seconds: number; startRss: number; peakRss: number; maxRss: number; wasmHeap: number; deviceBytes: number; storage: string };
    console.log(`  loaded in ${x.seconds.toFixed(1)} s as ${x.storage}`);
    console.log(`  weights on the runtime (loadReport.deviceBytes): ${gb(x.deviceBytes)}; wasm heap ${gb(x.wasmHeap)}`);
    console.log(`  peak RSS of the loading process (VmHWM): ${gb(x.peakRss)} (${gb(x.startRss)} before loading); target < ${gb(TARGET_BYTES)}: ${x.peakRss < TARGET_BYTES ? 'met' : 'MISSED'}`);
    console.log(`  (getrusage maxRSS of the same process: ${gb(x.maxRss)}, which Linux starts at the parent's RSS)`);
    return x.peakRss < TARGET_BYTES ? 0 : 1;
  } finally {
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--load') await load(process.argv[3]);
else process.exitCode = await main();
