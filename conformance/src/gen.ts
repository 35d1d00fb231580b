/**
 * Seeded input generators. A case names a generator and its options (data), never an array, so
 * every runtime and every run sees the same inputs.
 */
import { nearestCode, randn, referenceKernels, rng, ropeInvFreq, type RopeScaling, ropeTables } from '@kvant/reference';
import {
  bindingElements,
  bytesOf,
  DTYPE_BYTES,
  getKernel,
  IGNORE_INDEX,
  type Params,
  viewAs,
  type AnyTypedArray,
  DYNAMIC_MAP_SIGNED, DYNAMIC_MAP_UNSIGNED, FP4_CODE, FP4_THRESHOLDS, NF4_CODE, NF4_THRESHOLDS,
  f32ToBf16Bits,
  f32ToF16Bits,
} from '@kvant/abi';

/** The exact midpoints between sorted FP4 magnitudes (x 12: 0.03125, 1.03125, 2.5, 3.5, 5, 7, 10). */
const FP4_EXACT_MIDPOINTS = [0.03125, 1.03125, 2.5, 3.5, 5, 7, 10].map((v) => Math.fround(v / 12));

export { randn, rng };

/** An input generator, as data. */
export type Gen =
  /** Standard normal times `std`; `abs` takes magnitudes (for unsigned codes, absmax-like inputs). */
  | { readonly gen: 'randn'; readonly std?: number; readonly abs?: boolean }
  /** Every element the same value (NaN allowed: a write-only-looking C that must not be read). */
  | { readonly gen: 'const'; readonly value: number }
  /** The listed values, repeated (for small hand-made inputs: ties, overflow, signed zeros). */
  | { readonly gen: 'cycle'; readonly values: readonly number[] }
  /** randn with NaN, +-Inf, +0 and -0 sprinkled in (about 1%, 0.5%, 0.5%, 1%, 0.5%). */
  | { readonly gen: 'awkward' }
  /**
   * Blocks of 64 of six kinds in turn: plain; specials (NaN, +-Inf, +-0, subnormals, 3.4e38)
   * every fifth element; all subnormal; huge (x 1e38); all zero; NaN and -0 alternating.
   */
  | { readonly gen: 'edge_blocks' }
  /**
   * Absmax-like statistics: mostly uniform in [0, 3), with NaN, +Inf, -Inf, +0, -0, subnormals
   * (1e-45, 1e-40) and the largest f32 mixed in, so dequantizations meet every special scale.
   */
  | { readonly gen: 'absmax_edge' }
  /**
   * For linear quantization with an exact scale: per group of `group`, the first element is
   * qmax * 2^exp (so amax / qmax, and (hi - lo) / qmax with all values >= 0, is exactly 2^exp),
   * the rest are (j + 0.5) * 2^exp for integers j in [0, qmax): every x / scale is a tie.
   */
  | { readonly gen: 'linear_halfway'; readonly group: number; readonly qmax: number; readonly exp: number }
  /**
   * Decision thresholds times an absmax that is not a power of two (a copy of `absmax` leads each
   * block): the scaled values land within an ulp or two of the thresholds, so they are ambiguous
   * for a runtime with approximate arithmetic — the cases that exercise the ambiguity budget.
   */
  | { readonly gen: 'scaled_thresholds'; readonly table: 'nf4' | 'fp4' | 'dynamic_signed'; readonly blocksize: number; readonly absmax: number }
  /** Exactly on the 255 midpoints of a 256-entry code table, with a 1.0 first in each block (absmax 1). */
  | { readonly gen: 'code_midpoints'; readonly table: 'dynamic_signed' | 'dynamic_unsigned'; readonly blocksize: number }
  | { readonly gen: 'uniform'; readonly lo: number; readonly hi: number }
  /** randn times a scale drawn per element from `scales` (huge and tiny gradients side by side). */
  | { readonly gen: 'mixed_scales'; readonly scales: readonly number[] }
  /**
   * One part of f32 Adam states built from a simulated history: `steps` randn gradients (times
   * `std`) drawn from `stream`, m = 0.9 m + 0.1 g, v = 0.999 v + 0.001 g^2. Bindings that name the
   * same stream get consistent m and v (|m| / sqrt(v) bounded, as in a real run).
   */
  | { readonly gen: 'adam_state'; readonly part: 'm' | 'v'; readonly stream: number; readonly steps: number; readonly std?: number }
  /**
   * One part of 8-bit blockwise Adam states (blocks of 256) of `elements` elements: the history of
   * `adam_state`, then m quantized with the signed dynamic map and v with the
   * unsigned one, each as q = nearest(code, x / absmax). Parts of the same stream agree.
   */
  | {
      readonly gen: 'adam8_state';
      readonly part: 'm_q' | 'v_q' | 'm_absmax' | 'v_absmax';
      readonly elements: number;
      readonly stream: number;
      readonly steps: number;
      readonly std?: number;
    }
  /** randn with every `every`-th block of `blocksize` elements set to zero. */
  | { readonly gen: 'zero_blocks'; readonly blocksize: number; readonly every: number }
  /** A mixture of huge (1e30), tiny (1e-30), subnormal and ordinary magnitudes of both signs. */
  | { readonly gen: 'extremes' }
  /** randn with NaN, +Inf and -Inf sprinkled in (about 1 in 17 each). */
  | { readonly gen: 'nonfinite' }
  /** Values exactly on the NF4 decision thresholds (with a 1.0 per block so absmax is 1). */
  | { readonly gen: 'nf4_thresholds'; readonly blocksize: number }
  /**
   * Values exactly on the FP4 decision thresholds of bitsandbytes' CUDA tree and on the f32 nearest
   * the exact midpoints (which differ for some), both signs, with a 1.0 per block.
   */
  | { readonly gen: 'fp4_thresholds'; readonly blocksize: number }
  /** Uniform random bytes (codes), as u8. */
  | { readonly gen: 'bytes' }
  /** Random integers in [lo, hi] as i32. */
  | { readonly gen: 'ints'; readonly lo: number; readonly hi: number }
  /** Random 32-bit words. */
  | { readonly gen: 'words' }
  /**
   * 16-bit floats, two per u32 word (element e in bits 16*(e%2)..): randn times `std` rounded to
   * bf16 or f16 (nearest even), with about 6% specials when `specials` is set (+-0, subnormals,
   * the largest finite, +-inf, quiet and signalling NaNs with payloads). With `all`, element e is
   * the half e mod 65536: every bit pattern in turn. n counts words.
   */
  | { readonly gen: 'halves'; readonly format: 'bf16' | 'f16'; readonly std?: number; readonly specials?: boolean; readonly all?: boolean }
  /** A fixed code table. */
  | { readonly gen: 'table'; readonly table: 'nf4' | 'fp4' | 'dynamic_signed' | 'dynamic_unsigned' }
  /**
   * One binding of a forward case (kernel, params, inputs, seed — generated exactly as the runner
   * generates that case): an input as generated, or an output as the reference computes it. So a
   * backward case gets the forward's inputs and consistent saved outputs (o and lse, rstd).
   */
  | {
      readonly gen: 'forward';
      readonly kernel: string;
      readonly params: Params;
      readonly inputs: Readonly<Record<string, Gen>>;
      readonly seed: number;
      readonly binding: string;
    }
  /**
   * Position ids as i32 for rows of `t` tokens: each row is packed with documents of the lengths
   * `docs` (summing to t; default one document), and positions restart at 0 at each. With `last`,
   * only the last `last` positions of each row (the new tokens of a decode step, nn.attention_decode).
   */
  | { readonly gen: 'positions'; readonly t: number; readonly docs?: readonly number[]; readonly last?: number }
  /** Labels as i32: uniform in [0, v), a fraction `ignored` of them IGNORE_INDEX (1: every label). */
  | { readonly gen: 'labels'; readonly v: number; readonly ignored: number }
  /** A rope cos or sin table [n / (dim/2), dim/2] from ropeInvFreq and ropeTables (transformers' rules). */
  | { readonly gen: 'rope_table'; readonly part: 'cos' | 'sin'; readonly dim: number; readonly base: number; readonly scaling?: RopeScaling };

/** Special 16-bit patterns: +-0, smallest and largest subnormals, smallest normal, largest finite, +-inf, NaNs (quiet, signalling, payloads). */
const HALF_SPECIALS = {
  bf16: [0x0000, 0x8000, 0x0001, 0x8001, 0x007f, 0x0040, 0x0080, 0x7f7f, 0xff7f, 0x7f80, 0xff80, 0x7fc0, 0xffc0, 0x7f81, 0x7fa5],
  f16: [0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x83ff, 0x0200, 0x0400, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7e00, 0xfe00, 0x7c01, 0x7d5a],
} as const;

const TABLES = { nf4: NF4_CODE, fp4: FP4_CODE, dynamic_signed: DYNAMIC_MAP_SIGNED, dynamic_unsigned: DYNAMIC_MAP_UNSIGNED };

/** Produce `n` elements of a generator's data with a seed. */
export function generate(g: Gen, n: number, seed: number): AnyTypedArray {
  const r = rng(seed ^ 0x9e3779b9);
  switch (g.gen) {
    case 'randn': {
      const x = randn(n, seed, g.std ?? 1);
      return g.abs ? x.map(Math.abs) : x;
    }
    case 'const':
      return new Float32Array(n).fill(g.value);
    case 'cycle':
      return Float32Array.from({ length: n }, (_, i) => g.values[i % g.values.length]);
    case 'awkward': {
      const x = randn(n, seed);
      for (let i = 0; i < n; i++) {
        const u = r();
        if (u < 0.01) x[i] = Number.NaN;
        else if (u < 0.015) x[i] = Number.POSITIVE_INFINITY;
        else if (u < 0.02) x[i] = Number.NEGATIVE_INFINITY;
        else if (u < 0.03) x[i] = 0;
        else if (u < 0.035) x[i] = -0;
      }
      return x;
    }
    case 'edge_blocks': {
      const specials = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, -0, 1e-45, -1e-45, 1e-40, -3e-39, 1.2e-38, 3.4e38, -3.4e38, 1e30, -1e-30];
      const x = randn(n, seed);
      for (let i = 0; i < n; i++) {
        const blk = Math.floor(i / 64) % 6;
        if (blk === 1 && i % 5 === 0) x[i] = specials[(i / 5) % specials.length];
        else if (blk === 2) x[i] = x[i] * 1e-41;
        else if (blk === 3) x[i] = x[i] * 1e38;
        else if (blk === 4) x[i] = 0;
        else if (blk === 5) x[i] = i % 2 ? Number.NaN : -0;
      }
      return x;
    }
    case 'absmax_edge': {
      const specials = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, -0, 1e-45, 1e-40, 3.4028234663852886e38];
      return Float32Array.from({ length: n }, (_, i) => (i % 3 === 1 ? specials[Math.floor(i / 3) % specials.length] : 3 * r()));
    }
    case 'linear_halfway': {
      const unit = 2 ** g.exp;
      return Float32Array.from({ length: n }, (_, i) => (i % g.group === 0 ? g.qmax * unit : (Math.floor(r() * g.qmax) + 0.5) * unit));
    }
    case 'scaled_thresholds': {
      const pool =
        g.table === 'nf4'
          ? Array.from(NF4_THRESHOLDS)
          : g.table === 'fp4'
            ? Array.from(FP4_THRESHOLDS).flatMap((t) => [t, -t])
            : Array.from({ length: 255 }, (_, i) => Math.fround(Math.fround(DYNAMIC_MAP_SIGNED[i] + DYNAMIC_MAP_SIGNED[i + 1]) * 0.5));
      return Float32Array.from({ length: n }, (_, i) => (i % g.blocksize === 0 ? g.absmax : Math.fround(g.absmax * pool[Math.floor(r() * pool.length)])));
    }
    case 'code_midpoints': {
      const t = TABLES[g.table];
      const mids = Array.from({ length: 255 }, (_, i) => Math.fround(Math.fround(t[i] + t[i + 1]) * 0.5));
      return Float32Array.from({ length: n }, (_, i) => (i % g.blocksize === 0 ? 1 : mids[(i - Math.floor(i / g.blocksize)) % 255]));
    }
    case 'mixed_scales': {
      const x = randn(n, seed);
      for (let i = 0; i < n; i++) x[i] *= g.scales[Math.floor(r() * g.scales.length)];
      return x;
    }
    case 'adam_state':
      return adamHistory(n, g.stream, g.steps, g.std ?? 1)[g.part];
    case 'adam8_state': {
      const { m, v } = adamHistory(g.elements, g.stream, g.steps, g.std ?? 1);
      const isM = g.part === 'm_q' || g.part === 'm_absmax';
      const { q, absmax } = quantize8(isM ? m : v, isM ? DYNAMIC_MAP_SIGNED : DYNAMIC_MAP_UNSIGNED);
      const out = g.part.endsWith('absmax') ? absmax : q;
      if (out.length < n) throw new Error(`adam8_state ${g.part}: ${out.length} values for ${n} requested (elements too small)`);
      return out.slice(0, n);
    }
    case 'uniform':
      return Float32Array.from({ length: n }, () => g.lo + (g.hi - g.lo) * r());
    case 'zero_blocks': {
      const x = randn(n, seed);
      for (let b = 0; b * g.blocksize < n; b += g.every) x.fill(0, b * g.blocksize, Math.min(n, (b + 1) * g.blocksize));
      return x;
    }
    case 'extremes': {
      const mags = [1e30, 3e38, 1e-30, 1e-40, 1.5e-45, 1, 0.5, 7, 0];
      return Float32Array.from({ length: n }, () => mags[Math.floor(r() * mags.length)] * (r() < 0.5 ? -1 : 1) * (0.5 + r()));
    }
    case 'nonfinite': {
      const x = randn(n, seed);
      for (let i = 0; i < n; i++) {
        const u = r();
        if (u < 1 / 17) x[i] = Number.NaN;
        else if (u < 2 / 17) x[i] = Number.POSITIVE_INFINITY;
        else if (u < 3 / 17) x[i] = Number.NEGATIVE_INFINITY;
      }
      return x;
    }
    case 'nf4_thresholds': {
      const x = new Float32Array(n);
      for (let i = 0; i < n; i++) x[i] = i % g.blocksize === 0 ? 1 : NF4_THRESHOLDS[Math.floor(r() * NF4_THRESHOLDS.length)];
      return x;
    }
    case 'fp4_thresholds': {
      const x = new Float32Array(n);
      const pool = [...FP4_THRESHOLDS, ...FP4_EXACT_MIDPOINTS];
      for (let i = 0; i < n; i++) x[i] = i % g.blocksize === 0 ? 1 : pool[Math.floor(r() * pool.length)] * (r() < 0.5 ? -1 : 1);
      return x;
    }
    case 'bytes':
      return Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
    case 'ints':
      return Int32Array.from({ length: n }, () => g.lo + Math.floor(r() * (g.hi - g.lo + 1)));
    case 'words':
      return Uint32Array.from({ length: n }, () => Math.floor(r() * 2 ** 32));
    case 'halves': {
      const halves = new Uint16Array(2 * n);
      if (g.all) {
        for (let e = 0; e < halves.length; e++) halves[e] = e & 0xffff;
      } else {
        const x = randn(halves.length, seed, g.std ?? 1);
        const specials = HALF_SPECIALS[g.format];
        const round = g.format === 'bf16' ? f32ToBf16Bits : f32ToF16Bits;
        for (let e = 0; e < halves.length; e++) halves[e] = g.specials && r() < 0.06 ? specials[Math.floor(r() * specials.length)] : round(x[e]);
      }
      return new Uint32Array(halves.buffer);
    }
    case 'table': {
      const t = TABLES[g.table];
      if (n > t.length) throw new Error(`table ${g.table} has ${t.length} values, ${n} requested`);
      return t.slice(0, n);
    }
    case 'forward':
      return forwardBinding(g, n);
    case 'positions': {
      const docs = g.docs ?? [g.t];
      if (docs.reduce((a, x) => a + x, 0) !== g.t) throw new Error(`positions: documents ${docs.join('+')} do not fill t = ${g.t}`);
      const starts = docs.map((_, i) => docs.slice(0, i).reduce((a, x) => a + x, 0));
      const last = g.last ?? g.t;
      return Int32Array.from({ length: n }, (_, i) => {
        const j = g.t - last + (i % last);
        let s = 0;
        for (const st of starts) if (st <= j) s = st;
        return j - s;
      });
    }
    case 'labels':
      return Int32Array.from({ length: n }, () => (r() < g.ignored ? IGNORE_INDEX : Math.floor(r() * g.v)));
    case 'rope_table': {
      const half = g.dim / 2;
      const tables = ropeTables(ropeInvFreq({ base: g.base, dim: g.dim, scaling: g.scaling }), Math.ceil(n / half));
      return tables[g.part];
    }
  }
}

const forwardCache = new Map<string, Record<string, AnyTypedArray>>();

/** A binding of a forward case: its inputs generated as the runner does (seed * 31 + binding index), its outputs by the reference. */
function forwardBinding(g: Extract<Gen, { gen: 'forward' }>, n: number): AnyTypedArray {
  const key = JSON.stringify([g.kernel, g.params, g.inputs, g.seed]);
  let all = forwardCache.get(key);
  if (!all) {
    const spec = getKernel(g.kernel);
    const bufs: Record<string, Uint8Array> = {};
    spec.bindings.forEach((b, i) => {
      const count = bindingElements(spec, b, g.params);
      const bytes = new Uint8Array(Math.ceil((count * DTYPE_BYTES[b.dtype]) / 4) * 4);
      if (b.access !== 'write' && !b.scratch) {
        const gi = g.inputs[b.name];
        if (!gi) throw new Error(`forward ${g.kernel}: no generator for input ${b.name}`);
        bytes.set(bytesOf(generate(gi, count, g.seed * 31 + i)).subarray(0, count * DTYPE_BYTES[b.dtype]));
      }
      bufs[b.name] = bytes;
    });
    const inputs = Object.fromEntries(Object.entries(bufs).map(([k, v]) => [k, v.slice()]));
    referenceKernels[g.kernel].run(g.params, bufs);
    all = {};
    for (const b of spec.bindings) {
      const src = b.access === 'read' ? inputs[b.name] : bufs[b.name];
      all[b.name] = viewAs(b.dtype, src, bindingElements(spec, b, g.params));
    }
    forwardCache.set(key, all);
  }
  const out = all[g.binding];
  if (!out) throw new Error(`forward ${g.kernel}: no binding ${g.binding}`);
  if (out.length < n) throw new Error(`forward ${g.kernel}.${g.binding}: ${out.length} values for ${n} requested`);
  return out;
}

/** f32 Adam states after `steps` seeded randn gradients (the `adam_state` generators). */
function adamHistory(n: number, stream: number, steps: number, std: number): { m: Float32Array; v: Float32Array } {
  const m = new Float32Array(n);
  const v = new Float32Array(n);
  for (let t = 0; t < steps; t++) {
    const g = randn(n, stream * 7919 + t, std);
    for (let i = 0; i < n; i++) {
      m[i] = 0.9 * m[i] + 0.1 * g[i];
      v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
    }
  }
  return { m, v };
}

/** Blockwise (256) 8-bit codes and absmax of values, as the 8-bit optimizer stores its states. */
function quantize8(x: Float32Array, table: Float32Array): { q: Uint8Array; absmax: Float32Array } {
  const blocks = Math.ceil(x.length / 256);
  const q = new Uint8Array(x.length);
  const absmax = new Float32Array(blocks);
  for (let b = 0; b < blocks; b++) {
    const end = Math.min(x.length, (b + 1) * 256);
    let a = 0;
    for (let i = b * 256; i < end; i++) a = Math.max(a, Math.abs(x[i]));
    absmax[b] = a;
    for (let i = b * 256; i < end; i++) q[i] = nearestCode(table, a > 0 ? Math.fround(x[i] / a) : 0);
  }
  return { q, absmax };
}
