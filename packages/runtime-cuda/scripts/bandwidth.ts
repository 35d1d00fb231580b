/**
 * Quick bandwidth check on the cuda runtime (or cuda-emu with --emu): mem.copy and NF4
 * dequantization in GB/s, and their ratio (the target: dequantization at >= 85% of copy).
 * Validates nothing: the tests and the conformance suite do that. Usage:
 *   tsx packages/runtime-cuda/scripts/bandwidth.ts [--emu] [--elements N]
 */
import { getKernel, NF4_CODE } from '@kvant/abi';
import { createCudaRuntime } from '../src/index';

const emulated = process.argv.includes('--emu');
const at = process.argv.indexOf('--elements');
const n = at > 0 ? Number(process.argv[at + 1]) : emulated ? 1 << 20 : 1 << 28;
const blocksize = 64;
const rt = await createCudaRuntime({ emulated });
console.log(rt.info().description);

async function time(run: () => void, reps: number): Promise<number> {
  run();
  await rt.flush();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    run();
    await rt.flush();
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)] / 1000;
}

const reps = emulated ? 3 : 20;
const src = rt.alloc('u32', [n]);
const dst = rt.alloc('u32', [n]);
const copyS = await time(() => rt.dispatch('mem.copy', { src, dst }, { words: n }), reps);
const copyGBs = getKernel('mem.copy').cost({ words: n }).bytes / copyS / 1e9;
rt.free(src);
rt.free(dst);

const packed = rt.alloc('u8', [n / 2]);
const absmax = rt.alloc('f32', [Math.ceil(n / blocksize)]);
rt.write(absmax, new Float32Array(Math.ceil(n / blocksize)).fill(1));
const code = rt.alloc('f32', [16]);
rt.write(code, NF4_CODE);
const out = rt.alloc('f32', [n]);
const p = { n, blocksize };
const dqS = await time(() => rt.dispatch('quant.dequantize_4bit', { packed, absmax, code, out }, p), reps);
const dqGBs = getKernel('quant.dequantize_4bit').cost(p).bytes / dqS / 1e9;
console.log(`mem.copy              ${copyGBs.toFixed(1)} GB/s (${n} words, median of ${reps})`);
console.log(`quant.dequantize_4bit ${dqGBs.toFixed(1)} GB/s (${n} elements, blocksize ${blocksize}) = ${((100 * dqGBs) / copyGBs).toFixed(1)}% of copy`);
rt.dispose();
