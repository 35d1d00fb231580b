// nn.attention_decode — nn.attention for the last t_q of t_k tokens against a KV cache: causal
// grouped-query attention with the document/window mask, FlashAttention-2's online softmax over
// key tiles of 64 from key 0 (so a decode step gives the bits of the full forward's row).
// Shapes: q, o f32[B, Tq, H, D]; k_cache, v_cache f32[B, S, Hkv, D] (rows < t_k valid); pos i32[B, Tq].
// Math (spec): query iq is token i = t_k - t_q + iq; keys j in [lo, i], lo from pos[iq] and the
// window; s_ij = f(dot * scale), the dot sequential over d; per key tile: mn = max(m, max s),
// alpha = m == -Inf ? 0 : exp(m - mn), p_j = exp(s_ij - mn), l = f(f(l*alpha) + sum p_j),
// acc = f(f(acc*alpha) + sum p_j v_j), m = mn; o = f(acc / l).
// Idea (v1, `__part`): a unit is one query row (batch, head, query): at t_q = 1 there is nothing to
// share between queries, so no packing. Scores of a tile are scalar dots (each in d order) into
// the part's scratch; p·V runs SIMD across 4 dims, sequential over keys, so each lane keeps the
// spec's order. The exps are the ones nn.attention's `__part` uses (expf1 = a lane of expf4 for
// p_j, expScalar for alpha): on this runtime decode and full forward agree to the bit. Parts take
// units round-robin.
import { Bindings, Params } from '../generated/nn/attention_decode';
import { expf1, expScalar } from '../common/expf';
import { KT } from '../common/attention_tiles';

/** Static scratch of the plain export: acc [256] and one tile of scores [64]. */
const PLAIN = memory.data(4 * (256 + 64), 16);

export function nn__attention_decode(params: usize, bindings: usize): void {
  nn__attention_decode__part(params, bindings, 0, 1, PLAIN);
}

/** Part `part` of `parts`: units (batch, head, query) u = part, part + parts, ... (threading ABI, see index.ts). */
export function nn__attention_decode__part(params: usize, bindings: usize, part: u32, parts: u32, scratch: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const tq = usize(p.t_q), h = usize(p.h);
  const units = usize(p.b) * h * tq;
  for (let u = usize(part); u < units; u += usize(parts)) {
    const iq = u % tq;
    const hh = (u / tq) % h;
    const bb = u / (tq * h);
    row(p, b, bb, hh, iq, scratch, scratch + 1024);
  }
}

/** The spec's lo of token i whose position id is P (nn.attention's mask). */
// @ts-ignore: decorator
@inline
function maskLo(P: i32, i: i32, window: u32): i32 {
  let lo = i - min(max(P, 0), i);
  if (window > 0) lo = max(lo, i - i32(window) + 1);
  return lo;
}

function row(p: Params, b: Bindings, bb: usize, hh: usize, iq: usize, acc: usize, s: usize): void {
  const tq = usize(p.t_q), h = usize(p.h), hkv = usize(p.h_kv), d = usize(p.d), cap = usize(p.s);
  const g = hh / (h / hkv);
  const i = usize(p.t_k) - tq + iq;
  const lo = usize(maskLo(load<i32>(b.pos + ((bb * tq + iq) << 2)), i32(i), p.window));
  const qi = b.q + ((((bb * tq + iq) * h + hh) * d) << 2);
  const rowBytes = (hkv * d) << 2;
  const kBase = b.k_cache + (((bb * cap * hkv + g) * d) << 2);
  const vBase = b.v_cache + (((bb * cap * hkv + g) * d) << 2);
  const d4 = d & ~3;
  let m: f32 = -Infinity;
  let l: f32 = 0;
  memory.fill(acc, 0, d << 2);
  for (let j0 = (lo / KT) * KT; j0 <= i; j0 += KT) {
    const ja = max(lo, j0);
    const jb = min(i + 1, j0 + KT);
    let mt: f32 = -Infinity;
    for (let j = ja; j < jb; j++) {
      const kj = kBase + j * rowBytes;
      let dot: f32 = 0;
      for (let dd: usize = 0; dd < d; dd++) dot += load<f32>(qi + (dd << 2)) * load<f32>(kj + (dd << 2));
      const sj = dot * p.scale;
      store<f32>(s + ((j - j0) << 2), sj);
      if (sj > mt) mt = sj;
    }
    const mn = mt > m ? mt : m;
    const alpha: f32 = m == -Infinity ? 0 : expScalar(m - mn);
    let ps: f32 = 0;
    for (let j = ja; j < jb; j++) {
      const pj = expf1(load<f32>(s + ((j - j0) << 2)) - mn);
      store<f32>(s + ((j - j0) << 2), pj);
      ps += pj;
    }
    l = l * alpha + ps;
    const av = f32x4.splat(alpha);
    for (let dd: usize = 0; dd < d4; dd += 4) {
      let pv = f32x4.splat(0);
      for (let j = ja; j < jb; j++) pv = f32x4.add(pv, f32x4.mul(v128.load32_splat(s + ((j - j0) << 2)), v128.load(vBase + j * rowBytes + (dd << 2))));
      const ao = acc + (dd << 2);
      v128.store(ao, f32x4.add(f32x4.mul(v128.load(ao), av), pv));
    }
    for (let dd = d4; dd < d; dd++) {
      let pv: f32 = 0;
      for (let j = ja; j < jb; j++) pv += load<f32>(s + ((j - j0) << 2)) * load<f32>(vBase + j * rowBytes + (dd << 2));
      store<f32>(acc + (dd << 2), load<f32>(acc + (dd << 2)) * alpha + pv);
    }
    m = mn;
  }
  for (let dd: usize = 0; dd < d; dd++) store<f32>(qi - b.q + b.o + (dd << 2), load<f32>(acc + (dd << 2)) / l);
}
