/**
 * Reference implementations of the `nn` family (packages/abi/src/kernels/nn.ts): plain loops in
 * the order the spec fixes. Each kernel is written once over an arithmetic `Arith`: F32 rounds
 * after every operation (Math.fround; exp and log evaluated in f64 and rounded once, so correctly
 * rounded), F64 rounds nothing (the finite-difference checks in conformance/src/fd.ts run the same
 * code in f64). Tests swap in an Arith whose exp and log are a few ulp off, as a runtime's are.
 */
import { ATTENTION_KEY_TILE, CROSS_ENTROPY_CHUNK, NN_ROW_LANES, type Params } from '@kvant/abi';
import { type Buffers, f32View, i32View, type ReferenceKernels, u32View } from './buffers';

/** The arithmetic a kernel runs in: f rounds one result; exp, log and sqrt include their rounding. */
export interface Arith {
  readonly f: (x: number) => number;
  readonly exp: (x: number) => number;
  readonly log: (x: number) => number;
  readonly sqrt: (x: number) => number;
}

const fr = Math.fround;
export const F32: Arith = { f: fr, exp: (x) => fr(Math.exp(x)), log: (x) => fr(Math.log(x)), sqrt: (x) => fr(Math.sqrt(x)) };
export const F64: Arith = { f: (x) => x, exp: Math.exp, log: Math.log, sqrt: Math.sqrt };

/** Float storage of a kernel's bindings: f32 for the kernels, f64 for finite differences. */
type Floats = Float32Array | Float64Array;
/** The bindings of one call by name: floats, or Int32Array for ids, labels and positions. */
export type NnArrays = Record<string, Floats | Int32Array>;
/** One nn kernel over arrays in a given arithmetic. */
export type NnKernel = (p: Params, a: NnArrays, A: Arith) => void;

const fl = (a: NnArrays, name: string) => a[name] as Floats;
const ints = (a: NnArrays, name: string) => a[name] as Int32Array;

/** rowsum32 of the spec: 32 strided lanes in increasing j, then a tree 16, 8, 4, 2, 1. */
export function rowsum32(a: number, b: number, term: (j: number) => number, f: (x: number) => number): number {
  const s = new Float64Array(NN_ROW_LANES);
  for (let j = a; j < b; j++) {
    const l = (j - a) % NN_ROW_LANES;
    s[l] = f(s[l] + term(j));
  }
  for (let off = NN_ROW_LANES / 2; off >= 1; off >>= 1) for (let l = 0; l < off; l++) s[l] = f(s[l] + s[l + off]);
  return s[0];
}

// ---------------------------------------------------------------------------------------------
// Embedding
// ---------------------------------------------------------------------------------------------

const embeddingBackward: NnKernel = (p, a, { f }) => {
  const ids = ints(a, 'ids');
  const dout = fl(a, 'dout');
  const dtable = fl(a, 'dtable');
  const { n, c, v } = p;
  for (let r = 0; r < v; r++) {
    for (let j = 0; j < c; j++) {
      let acc = p.accumulate === 1 ? dtable[r * c + j] : 0;
      for (let t = 0; t < n; t++) if (ids[t] === r) acc = f(acc + dout[t * c + j]);
      dtable[r * c + j] = acc;
    }
  }
};

/** The lookup over any float storage (the f32 kernel copies words instead, to keep NaN payloads). */
const embeddingForward: NnKernel = (p, a) => {
  const ids = ints(a, 'ids');
  const table = fl(a, 'table');
  const out = fl(a, 'out');
  for (let t = 0; t < p.n; t++) {
    const id = ids[t];
    for (let j = 0; j < p.c; j++) out[t * p.c + j] = id >= 0 && id < p.v ? table[id * p.c + j] : 0;
  }
};

// ---------------------------------------------------------------------------------------------
// RMSNorm
// ---------------------------------------------------------------------------------------------

const rmsnorm: NnKernel = (p, a, A) => {
  const { f } = A;
  const x = fl(a, 'x');
  const w = fl(a, 'w');
  const y = fl(a, 'y');
  const rstdOut = fl(a, 'rstd');
  const { n, c } = p;
  const eps = f(p.eps);
  for (let r = 0; r < n; r++) {
    const o = r * c;
    const ss = rowsum32(0, c, (j) => f(x[o + j] * x[o + j]), f);
    const variance = f(ss / c);
    const rstd = f(1 / A.sqrt(f(variance + eps)));
    for (let j = 0; j < c; j++) y[o + j] = f(w[j] * f(x[o + j] * rstd));
    rstdOut[r] = rstd;
  }
};

const rmsnormBackward: NnKernel = (p, a, { f }) => {
  const x = fl(a, 'x');
  const w = fl(a, 'w');
  const rstd = fl(a, 'rstd');
  const dy = fl(a, 'dy');
  const dx = fl(a, 'dx');
  const dw = fl(a, 'dw');
  const { n, c } = p;
  const xhat = (r: number, j: number) => f(x[r * c + j] * rstd[r]);
  for (let r = 0; r < n; r++) {
    const o = r * c;
    const rs = rstd[r];
    const g = (j: number) => f(dy[o + j] * w[j]);
    const dot = rowsum32(0, c, (j) => f(g(j) * xhat(r, j)), f);
    const mu = f(dot / c);
    for (let j = 0; j < c; j++) dx[o + j] = f(rs * f(g(j) - f(xhat(r, j) * mu)));
  }
  for (let j = 0; j < c; j++) {
    let acc = p.accumulate === 1 ? dw[j] : 0;
    for (let r = 0; r < n; r++) acc = f(acc + f(dy[r * c + j] * xhat(r, j)));
    dw[j] = acc;
  }
};

// ---------------------------------------------------------------------------------------------
// RoPE
// ---------------------------------------------------------------------------------------------

/** Rotate every (i, i + d/2) pair of every head: (a, b) -> (a·c ∓ b·s, b·c ± a·s); sign -1 is the forward. */
function ropeRotate(p: Params, a: NnArrays, f: (x: number) => number, src: string, dst: string, forward: boolean): void {
  const x = fl(a, src);
  const y = fl(a, dst);
  const pos = ints(a, 'pos');
  const cos = fl(a, 'cos');
  const sin = fl(a, 'sin');
  const { n, h, d } = p;
  const half = d / 2;
  for (let t = 0; t < n; t++) {
    const P = pos[t];
    const ok = P >= 0 && P < p.max_pos;
    for (let hh = 0; hh < h; hh++) {
      const base = (t * h + hh) * d;
      for (let i = 0; i < half; i++) {
        if (!ok) {
          y[base + i] = 0;
          y[base + i + half] = 0;
          continue;
        }
        const c = cos[P * half + i];
        const s = sin[P * half + i];
        const x1 = x[base + i];
        const x2 = x[base + i + half];
        if (forward) {
          y[base + i] = f(f(x1 * c) - f(x2 * s));
          y[base + i + half] = f(f(x2 * c) + f(x1 * s));
        } else {
          y[base + i] = f(f(x1 * c) + f(x2 * s));
          y[base + i + half] = f(f(x2 * c) - f(x1 * s));
        }
      }
    }
  }
}

// ropeInvFreq and ropeTables (the host-side tables nn.rope reads) live in @kvant/abi's rope.ts.

// ---------------------------------------------------------------------------------------------
// Attention
// ---------------------------------------------------------------------------------------------

/** The first key query i of row bb attends (the spec's lo: document start, then the window). */
export function attentionLo(p: Params, pos: Int32Array, bb: number, i: number): number {
  return maskLo(pos[bb * p.t + i], i, p.window);
}

/** The spec's lo of token i with position id P: the document start i - P, then the window (nn.attention and nn.attention_decode). */
export function maskLo(P: number, i: number, window: number): number {
  let lo = i - Math.min(Math.max(P, 0), i);
  if (window > 0) lo = Math.max(lo, i - window + 1);
  return lo;
}

interface AttentionIndex {
  /** Offset of q/o row (bb, i, hh) and of k/v row (bb, j, g). */
  readonly qi: (bb: number, i: number, hh: number) => number;
  readonly kj: (bb: number, j: number, g: number) => number;
  readonly li: (bb: number, hh: number, i: number) => number;
  readonly group: number;
}

function attentionIndex(p: Params): AttentionIndex {
  const { t, h, h_kv, d } = p;
  return {
    qi: (bb, i, hh) => ((bb * t + i) * h + hh) * d,
    kj: (bb, j, g) => ((bb * t + j) * h_kv + g) * d,
    li: (bb, hh, i) => (bb * h + hh) * t + i,
    group: h / h_kv,
  };
}

/** s_ij = f(dot * scale), the dot sequential over d. */
function score(q: Floats, k: Floats, qo: number, ko: number, d: number, scale: number, f: (x: number) => number): number {
  let dot = 0;
  for (let dd = 0; dd < d; dd++) dot = f(dot + f(q[qo + dd] * k[ko + dd]));
  return f(dot * scale);
}

/**
 * One query row's online softmax (the spec's key tiles of 64 from key 0, over [lo, i]): writes
 * f(acc / l) to o[oo..oo+d) and returns the final m and l. `kj(j)` is the offset of key/value j.
 */
function attendRow(q: Floats, qo: number, k: Floats, v: Floats, kj: (j: number) => number, lo: number, i: number, o: Floats, oo: number, p: Params, A: Arith, acc: Float64Array): { m: number; l: number } {
  const { f } = A;
  const { d } = p;
  const scale = f(p.scale);
  let m = Number.NEGATIVE_INFINITY;
  let l = 0;
  acc.fill(0);
  for (let kt = Math.floor(lo / ATTENTION_KEY_TILE); kt * ATTENTION_KEY_TILE <= i; kt++) {
    const j0 = Math.max(lo, kt * ATTENTION_KEY_TILE);
    const j1 = Math.min(i + 1, (kt + 1) * ATTENTION_KEY_TILE);
    const s: number[] = [];
    for (let j = j0; j < j1; j++) s.push(score(q, k, qo, kj(j), d, scale, f));
    const mn = Math.max(m, ...s);
    const alpha = m === Number.NEGATIVE_INFINITY ? 0 : A.exp(f(m - mn));
    const pj = s.map((x) => A.exp(f(x - mn)));
    let ps = 0;
    for (const x of pj) ps = f(ps + x);
    l = f(f(l * alpha) + ps);
    for (let dd = 0; dd < d; dd++) {
      let pv = 0;
      for (let j = j0; j < j1; j++) pv = f(pv + f(pj[j - j0] * v[kj(j) + dd]));
      acc[dd] = f(f(acc[dd] * alpha) + pv);
    }
    m = mn;
  }
  for (let dd = 0; dd < d; dd++) o[oo + dd] = f(acc[dd] / l);
  return { m, l };
}

const attention: NnKernel = (p, a, A) => {
  const { f } = A;
  const [q, k, v, o, lse] = ['q', 'k', 'v', 'o', 'lse'].map((n) => fl(a, n));
  const pos = ints(a, 'pos');
  const { b, t, h } = p;
  const ix = attentionIndex(p);
  const acc = new Float64Array(p.d);
  for (let bb = 0; bb < b; bb++) {
    for (let hh = 0; hh < h; hh++) {
      const g = Math.floor(hh / ix.group);
      for (let i = 0; i < t; i++) {
        const qo = ix.qi(bb, i, hh);
        const { m, l } = attendRow(q, qo, k, v, (j) => ix.kj(bb, j, g), attentionLo(p, pos, bb, i), i, o, qo, p, A, acc);
        lse[ix.li(bb, hh, i)] = f(m + A.log(l));
      }
    }
  }
};

/** nn.attention_decode: query iq of row bb is token i = t_k - t_q + iq, against cache rows [lo, i]. */
const attentionDecode: NnKernel = (p, a, A) => {
  const [q, k, v, o] = ['q', 'k_cache', 'v_cache', 'o'].map((n) => fl(a, n));
  const pos = ints(a, 'pos');
  const { b, t_q, t_k, s, h, h_kv, d } = p;
  const group = h / h_kv;
  const acc = new Float64Array(d);
  for (let bb = 0; bb < b; bb++) {
    for (let hh = 0; hh < h; hh++) {
      const g = Math.floor(hh / group);
      for (let iq = 0; iq < t_q; iq++) {
        const i = t_k - t_q + iq;
        const qo = ((bb * t_q + iq) * h + hh) * d;
        attendRow(q, qo, k, v, (j) => ((bb * s + j) * h_kv + g) * d, maskLo(pos[bb * t_q + iq], i, p.window), i, o, qo, p, A, acc);
      }
    }
  }
};

const attentionBackward: NnKernel = (p, a, A) => {
  const { f } = A;
  const [q, k, v, o, lse, dout, dq, dk, dv] = ['q', 'k', 'v', 'o', 'lse', 'dout', 'dq', 'dk', 'dv'].map((n) => fl(a, n));
  const pos = ints(a, 'pos');
  const { b, t, h, h_kv, d } = p;
  const scale = f(p.scale);
  const ix = attentionIndex(p);
  const delta = new Float64Array(b * h * t);
  for (let bb = 0; bb < b; bb++) {
    for (let hh = 0; hh < h; hh++) {
      for (let i = 0; i < t; i++) {
        const qo = ix.qi(bb, i, hh);
        let s = 0;
        for (let dd = 0; dd < d; dd++) s = f(s + f(dout[qo + dd] * o[qo + dd]));
        delta[ix.li(bb, hh, i)] = s;
      }
    }
  }
  /** P_ij and dS_ij of query (bb, hh, i) and key j. */
  const pds = (bb: number, hh: number, i: number, j: number): [number, number] => {
    const g = Math.floor(hh / ix.group);
    const qo = ix.qi(bb, i, hh);
    const ko = ix.kj(bb, j, g);
    const P = A.exp(f(score(q, k, qo, ko, d, scale, f) - lse[ix.li(bb, hh, i)]));
    let dP = 0;
    for (let dd = 0; dd < d; dd++) dP = f(dP + f(dout[qo + dd] * v[ko + dd]));
    return [P, f(P * f(dP - delta[ix.li(bb, hh, i)]))];
  };
  const accq = new Float64Array(d);
  for (let bb = 0; bb < b; bb++) {
    for (let hh = 0; hh < h; hh++) {
      const g = Math.floor(hh / ix.group);
      for (let i = 0; i < t; i++) {
        accq.fill(0);
        for (let j = attentionLo(p, pos, bb, i); j <= i; j++) {
          const [, dS] = pds(bb, hh, i, j);
          const ko = ix.kj(bb, j, g);
          for (let dd = 0; dd < d; dd++) accq[dd] = f(accq[dd] + f(dS * k[ko + dd]));
        }
        const qo = ix.qi(bb, i, hh);
        for (let dd = 0; dd < d; dd++) dq[qo + dd] = f(scale * accq[dd]);
      }
    }
  }
  const acck = new Float64Array(d);
  const accv = new Float64Array(d);
  for (let bb = 0; bb < b; bb++) {
    for (let g = 0; g < h_kv; g++) {
      for (let j = 0; j < t; j++) {
        acck.fill(0);
        accv.fill(0);
        for (let hh = g * ix.group; hh < (g + 1) * ix.group; hh++) {
          for (let i = j; i < t; i++) {
            if (attentionLo(p, pos, bb, i) > j) continue;
            const [P, dS] = pds(bb, hh, i, j);
            const qo = ix.qi(bb, i, hh);
            for (let dd = 0; dd < d; dd++) {
              accv[dd] = f(accv[dd] + f(P * dout[qo + dd]));
              acck[dd] = f(acck[dd] + f(dS * q[qo + dd]));
            }
          }
        }
        const ko = ix.kj(bb, j, g);
        for (let dd = 0; dd < d; dd++) {
          dv[ko + dd] = accv[dd];
          dk[ko + dd] = f(scale * acck[dd]);
        }
      }
    }
  }
};

// ---------------------------------------------------------------------------------------------
// SwiGLU
// ---------------------------------------------------------------------------------------------

const swiglu: NnKernel = (p, a, A) => {
  const { f } = A;
  const [gate, up, out] = ['gate', 'up', 'out'].map((n) => fl(a, n));
  for (let e = 0; e < p.n * p.inter; e++) {
    const g = gate[e];
    out[e] = f(f(g / f(1 + A.exp(-g))) * up[e]);
  }
};

const swigluBackward: NnKernel = (p, a, A) => {
  const { f } = A;
  const [gate, up, dout, dgate, dup] = ['gate', 'up', 'dout', 'dgate', 'dup'].map((n) => fl(a, n));
  for (let e = 0; e < p.n * p.inter; e++) {
    const g = gate[e];
    const dy = dout[e];
    const ex = A.exp(-g);
    dup[e] = f(dy * f(g / f(1 + ex)));
    const sig = f(1 / f(1 + ex));
    dgate[e] = f(f(f(dy * up[e]) * sig) * f(1 + f(g * f(1 - sig))));
  }
};

// ---------------------------------------------------------------------------------------------
// Cross-entropy
// ---------------------------------------------------------------------------------------------

const crossEntropy: NnKernel = (p, a, A) => {
  const { f } = A;
  const x = fl(a, 'logits');
  const labels = ints(a, 'labels');
  const loss = fl(a, 'loss');
  const lseOut = fl(a, 'lse');
  const { n, v } = p;
  for (let r = 0; r < n; r++) {
    const o = r * v;
    let m = 0;
    let s = 0;
    for (let c0 = 0; c0 < v; c0 += CROSS_ENTROPY_CHUNK) {
      const c1 = Math.min(v, c0 + CROSS_ENTROPY_CHUNK);
      let cm = Number.NEGATIVE_INFINITY;
      for (let j = c0; j < c1; j++) if (x[o + j] > cm) cm = x[o + j];
      const mn = c0 === 0 ? cm : Math.max(m, cm);
      const cs = rowsum32(c0, c1, (j) => A.exp(f(x[o + j] - mn)), f);
      s = c0 === 0 ? cs : f(f(s * A.exp(f(m - mn))) + cs);
      m = mn;
    }
    const logS = A.log(s);
    lseOut[r] = f(m + logS);
    const label = labels[r];
    loss[r] = label === p.ignore_index ? 0 : label >= 0 && label < v ? f(f(m - x[o + label]) + logS) : Number.NaN;
  }
};

const crossEntropyBackward: NnKernel = (p, a, A) => {
  const { f } = A;
  const x = fl(a, 'dlogits');
  const labels = ints(a, 'labels');
  const lse = fl(a, 'lse');
  const dloss = fl(a, 'dloss');
  const { n, v } = p;
  for (let r = 0; r < n; r++) {
    const o = r * v;
    const label = labels[r];
    const dl = dloss[r];
    for (let j = 0; j < v; j++) {
      if (label === p.ignore_index) {
        x[o + j] = 0;
        continue;
      }
      const pr = A.exp(f(x[o + j] - lse[r]));
      x[o + j] = f((j === label ? f(pr - 1) : pr) * dl);
    }
  }
};

// ---------------------------------------------------------------------------------------------
// Argmax and sampling
// ---------------------------------------------------------------------------------------------

const argmax: NnKernel = (p, a) => {
  const x = fl(a, 'x');
  const ids = ints(a, 'ids');
  for (let r = 0; r < p.n; r++) {
    let best = 0;
    for (let j = 1; j < p.v; j++) {
      const xb = x[r * p.v + best];
      const xj = x[r * p.v + j];
      if (!Number.isNaN(xb) && (Number.isNaN(xj) || xj > xb)) best = j;
    }
    ids[r] = best;
  }
};

/** The rank order of nn.sample: z descending, equal z by lower index. */
export function sampleRow(z: ArrayLike<number>, u: number, topK: number, topP: number, A: Arith = F32): number {
  const { f } = A;
  const v = z.length;
  let allNegInf = true;
  for (let j = 0; j < v; j++) {
    if (Number.isNaN(z[j]) || z[j] === Number.POSITIVE_INFINITY) return -1;
    if (z[j] !== Number.NEGATIVE_INFINITY) allNegInf = false;
  }
  if (allNegInf) return -1;
  const order = Array.from({ length: v }, (_, j) => j).sort((x, y) => (z[x] === z[y] ? x - y : z[y] - z[x]));
  const k = topK === 0 ? v : Math.min(topK, v);
  const top = z[order[0]];
  const c: number[] = [];
  let acc = 0;
  for (let r = 0; r < k; r++) {
    acc = f(acc + A.exp(f(z[order[r]] - top)));
    c.push(acc);
  }
  let kp = k;
  if (topP < 1) {
    const want = f(f(topP) * c[k - 1]);
    const r = c.findIndex((x) => x >= want);
    kp = r < 0 ? k : r + 1;
  }
  const target = f(f(u) * c[kp - 1]);
  for (let r = 0; r < kp; r++) if (c[r] > target) return order[r];
  return order[kp - 1];
}

const sample: NnKernel = (p, a, A) => {
  const { f } = A;
  const x = fl(a, 'logits');
  const u = fl(a, 'uniforms');
  const ids = ints(a, 'ids');
  const invT = f(p.inv_temperature);
  for (let r = 0; r < p.n; r++) {
    const z = Array.from({ length: p.v }, (_, j) => f(x[r * p.v + j] * invT));
    ids[r] = sampleRow(z, u[r], p.top_k, p.top_p, A);
  }
};

// ---------------------------------------------------------------------------------------------
// Kernels
// ---------------------------------------------------------------------------------------------

/** Every nn kernel over arrays, in any arithmetic (F32 is the kernel; F64 feeds finite differences). */
export const nnArrayKernels: Readonly<Record<string, NnKernel>> = {
  'nn.embedding': embeddingForward,
  'nn.embedding_backward': embeddingBackward,
  'nn.rmsnorm': rmsnorm,
  'nn.rmsnorm_backward': rmsnormBackward,
  'nn.rope': (p, a, A) => ropeRotate(p, a, A.f, 'x', 'y', true),
  'nn.rope_backward': (p, a, A) => ropeRotate(p, a, A.f, 'dy', 'dx', false),
  'nn.attention': attention,
  'nn.attention_backward': attentionBackward,
  'nn.attention_decode': attentionDecode,
  'nn.swiglu': swiglu,
  'nn.swiglu_backward': swigluBackward,
  'nn.cross_entropy': crossEntropy,
  'nn.cross_entropy_backward': crossEntropyBackward,
  'nn.argmax': argmax,
  'nn.sample': sample,
};

/** Binding names of nn kernels that hold i32 (everything else is f32, scratch aside). */
const INT_BINDINGS = new Set(['ids', 'labels', 'pos']);

/** View a kernel's binding bytes as the arrays the array kernels take (scratch bindings left out). */
export function nnViews(b: Buffers, scratch: readonly string[] = []): NnArrays {
  const out: NnArrays = {};
  for (const [name, bytes] of Object.entries(b)) if (!scratch.includes(name)) out[name] = INT_BINDINGS.has(name) ? i32View(bytes) : f32View(bytes);
  return out;
}

/** Run an nn kernel on binding bytes in an arithmetic (tests use a sloppy one). */
export function runNn(id: string, p: Params, b: Buffers, A: Arith = F32): void {
  nnArrayKernels[id](p, nnViews(b, ['delta', 'work']), A);
}

const wrap = (id: string) => ({ run: (p: Params, b: Buffers) => runNn(id, p, b) });

export const nnKernels: ReferenceKernels = {
  ...Object.fromEntries(Object.keys(nnArrayKernels).map((id) => [id, wrap(id)])),
  // A bit copy of rows into the cache, as words (NaN payloads kept).
  'nn.kv_append': {
    run: (p, b) => {
      const src = u32View(b.src);
      const cache = u32View(b.cache);
      const { w } = p;
      for (let bb = 0; bb < p.b; bb++) cache.set(src.subarray(bb * p.t_new * w, (bb + 1) * p.t_new * w), (bb * p.s + p.t0) * w);
    },
  },
  // A bit copy: words, so NaN payloads survive (a Float32Array round trip through f64 may not keep them).
  'nn.embedding': {
    run: (p, b) => {
      const ids = i32View(b.ids);
      const table = u32View(b.table);
      const out = u32View(b.out);
      for (let t = 0; t < p.n; t++) {
        const id = ids[t];
        for (let j = 0; j < p.c; j++) out[t * p.c + j] = id >= 0 && id < p.v ? table[id * p.c + j] : 0;
      }
    },
  },
};
