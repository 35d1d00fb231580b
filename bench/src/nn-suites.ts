/**
 * The nn benchmarks (issue 11): attention forward and backward at T = 256, 1024 and 2048 with
 * D = 64 and 128 (GFLOP/s and the fraction of the same runtime's matmul rate), and RMSNorm, RoPE,
 * SwiGLU and cross-entropy as fractions of copy bandwidth. Each is validated against the reference
 * at a small size first (`check`). Software renderers get the small list (T <= 1024, fewer rows).
 */
import type { Params } from '@kvant/abi';
import type { Gen } from '@kvant/conformance';
import type { KernelBench } from './suites';

const RANDN: Gen = { gen: 'randn' };

export const attentionName = (kind: 'forward' | 'backward', t: number, d: number) => `attention ${kind} T=${t} D=${d} H=8 Hkv=2`;

function attention(t: number, d: number): KernelBench[] {
  const p: Params = { b: 1, t, h: 8, h_kv: 2, d, window: 0, scale: 1 / Math.sqrt(d) };
  const check: Params = { ...p, t: 67 };
  const pos: Gen = { gen: 'positions', t };
  const checkPos: Gen = { gen: 'positions', t: 67 };
  const list: KernelBench[] = [
    { name: attentionName('forward', t, d), kernel: 'nn.attention', params: p, check, inputs: { q: RANDN, k: RANDN, v: RANDN, pos }, heavy: t >= 1024 },
    {
      name: attentionName('backward', t, d),
      kernel: 'nn.attention_backward',
      params: p,
      check,
      // Random o and lse (finite, exp(s - lse) small): the timing does not depend on their values.
      inputs: { q: RANDN, k: RANDN, v: RANDN, pos, o: RANDN, lse: { gen: 'uniform', lo: 5, hi: 10 }, dout: RANDN, delta: { gen: 'const', value: 0 } },
      heavy: t >= 1024,
    },
  ];
  return list.map((b) => ({ ...b, checkInputs: { ...b.inputs, pos: checkPos } }));
}

/** Rows of the element-wise benches: 8192 tokens (16 sequences of 512). */
export function nnBenches(small = false): KernelBench[] {
  const out: KernelBench[] = [];
  const lengths = small ? [256, 1024] : [256, 1024, 2048];
  for (const t of lengths) for (const d of [64, 128]) out.push(...attention(t, d));
  const n = small ? 2048 : 8192;
  out.push({ name: `rmsnorm ${n}x4096`, kernel: 'nn.rmsnorm', params: { n, c: 4096, eps: 1e-5 }, check: { n: 9, c: 4096, eps: 1e-5 }, inputs: { x: RANDN, w: RANDN } });
  const maxPos = 4096;
  const table = { dim: 128, base: 10000 };
  out.push({
    name: `rope ${n} tokens x 32 heads x 128`,
    kernel: 'nn.rope',
    params: { n, h: 32, d: 128, max_pos: maxPos },
    check: { n: 9, h: 32, d: 128, max_pos: maxPos },
    inputs: { x: RANDN, pos: { gen: 'positions', t: maxPos }, cos: { gen: 'rope_table', part: 'cos', ...table }, sin: { gen: 'rope_table', part: 'sin', ...table } },
  });
  out.push({ name: `swiglu ${n}x11008`, kernel: 'nn.swiglu', params: { n, inter: 11008 }, check: { n: 5, inter: 11008 }, inputs: { gate: RANDN, up: RANDN } });
  const rows = small ? 256 : 1024;
  out.push({
    name: `cross-entropy ${rows}x32000`,
    kernel: 'nn.cross_entropy',
    params: { n: rows, v: 32000, ignore_index: -100 },
    check: { n: 7, v: 32000, ignore_index: -100 },
    inputs: { logits: RANDN, labels: { gen: 'labels', v: 32000, ignored: 0 } },
  });
  return out;
}
