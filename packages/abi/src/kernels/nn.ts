/**
 * The `nn` family: the kernels of a Llama-family block and its loss — embedding, RMSNorm, rotary
 * embeddings, tiled causal attention with grouped-query heads, SwiGLU, softmax cross-entropy, argmax
 * and sampling — forward and backward.
 *
 * Glossary: B batch, T tokens, H heads, Hkv key/value heads, D head dim, V vocab, C model width,
 * I intermediate (MLP) width; n = B·T token rows where a kernel does not care about B. Row-major.
 *
 * Numerics as in linalg.ts: `f(...)` is one f32 operation rounded to nearest even, no fma, no
 * reassociation, the order as written; sqrt and division are IEEE (correctly rounded); subnormals
 * are kept. Kernels built from multiply, add, compare, sqrt and division are `exact` on a runtime
 * with IEEE f32 (wasm, CUDA); on WGSL (division 2.5 ulp, sqrt about 4.5 ulp) they get `approximate`
 * bounds. `exp` and `log` are not correctly rounded on any runtime but the reference (which computes
 * f32(Math.exp(x)) of the f32 argument, in f64: correctly rounded but for astronomically rare
 * cases), and expf/logf on wasm, CUDA and WGSL are 1-3 ulp off; kernels using them are `close`, with
 * the bound stated next to each and checked in conformance/src/fd.test.ts against a
 * reference whose exp and log are moved by up to 3 ulp at random (and against a 1-position mask
 * error, which each bound must catch).
 *
 * `rowsum32(a, b, term)`: the sum of term(j) over j in [a, b), fixed as 32 lanes and a tree.
 *   Lane l < 32 holds s_l = +0.0, then s_l = f(s_l + term(j)) for j = a + l, a + l + 32, ... < b in
 *   increasing j; then for off = 16, 8, 4, 2, 1: s_l = f(s_l + s_(l+off)) for l < off; the sum is
 *   s_0. (One warp, or 8 SIMD registers of 4 lanes, reading consecutive elements; a warp's xor
 *   butterfly gives the same bits since f32 addition is commutative.) Shared helper name:
 *   `lib/rowsum32` in every runtime.
 */
import { type Cost, defineKernel, type Params, type Precondition, requires } from '../spec';

/** Lanes of rowsum32, the fixed order of every row reduction in this family. */
export const NN_ROW_LANES = 32;
/** Keys per tile of the attention forward's online softmax (tiles start at key index 0, 64, 128, ...). */
export const ATTENTION_KEY_TILE = 64;
/** Largest head dim of nn.attention: a query row's accumulator lives in registers or shared memory. */
export const ATTENTION_MAX_D = 256;
/** Vocabulary entries per chunk of the cross-entropy's online log-sum-exp (chunks start at 0, 4096, ...). */
export const CROSS_ENTROPY_CHUNK = 4096;
/** The label of a token that takes no part in the loss (PyTorch's ignore_index default). */
export const IGNORE_INDEX = -100;

/** 2^-23: one ulp of 1.0 in f32, the unit of every bound below. */
const E = 2 ** -23;

const u32 = (name: string, doc: string) => ({ name, type: 'u32', doc }) as const;
const i32 = (name: string, doc: string) => ({ name, type: 'i32', doc }) as const;
const f32 = (name: string, doc: string) => ({ name, type: 'f32', doc }) as const;

const MAX_ELEMENTS = 2 ** 31 - 1;
const fits = (param: string, what: string, size: (p: Params) => number): Precondition => ({
  param,
  requirement: `${what} has fewer than 2^31 elements`,
  check: (p) => size(p) <= MAX_ELEMENTS,
});
const exact = { kind: 'exact' } as const;
const accumulateParam = u32('accumulate', '0: the gradient is written; 1: it is added to the values already there (micro-batches sum)');

// ---------------------------------------------------------------------------------------------
// nn.embedding, nn.embedding_backward
// ---------------------------------------------------------------------------------------------

const embeddingParams = [u32('n', 'tokens (B·T)'), u32('c', 'model width C'), u32('v', 'vocabulary size V (rows of the table)')] as const;
const embeddingPre = [requires.positive('n'), requires.positive('c'), requires.positive('v'), fits('v', 'table (v*c)', (p) => p.v * p.c), fits('n', 'out (n*c)', (p) => p.n * p.c)];
const idsBinding = { name: 'ids', dtype: 'i32', shape: ['n'], access: 'read', doc: 'token ids; an id outside [0, v) selects nothing (see math)' } as const;

export const embedding = defineKernel({
  id: 'nn.embedding',
  summary: 'Embedding lookup: out[t] = table[ids[t]], rows of C f32; an out-of-range id gives a row of +0.0.',
  math: [
    'For t < n, j < c: out[t*c + j] = 0 <= ids[t] < v ? table[ids[t]*c + j] : +0.0 (bits 0x00000000).',
    'A bit copy (NaN payloads included: copy words, do not do arithmetic). The kernel cannot reject an id (preconditions',
    'see params, not data): the host-side layer validates ids against v and throws; the kernel only guarantees that an',
    'invalid id reads nothing out of bounds and writes a zero row.',
  ].join('\n'),
  params: embeddingParams,
  derived: {},
  preconditions: embeddingPre,
  bindings: [
    idsBinding,
    { name: 'table', dtype: 'f32', shape: ['v', 'c'], access: 'read', doc: 'embedding table [V, C] (embed_tokens.weight)' },
    { name: 'out', dtype: 'f32', shape: ['n', 'c'], access: 'write', doc: 'embeddings [B·T, C]' },
  ],
  tolerance: { out: exact },
  cost: (p) => ({ flops: 0, bytes: 4 * p.n + 8 * p.n * p.c }),
});

export const embeddingBackward = defineKernel({
  id: 'nn.embedding_backward',
  summary: 'Embedding gradient: dtable[r] (+)= sum of dout[t] over tokens t with ids[t] == r, summed in token order (no atomics).',
  math: [
    'For r < v, j < c: acc = accumulate == 1 ? dtable[r*c + j] : +0.0;',
    '  for t = 0, 1, ..., n-1 in this order, where ids[t] == r: acc = f(acc + dout[t*c + j]);',
    '  dtable[r*c + j] = acc.   (Tokens with an id outside [0, v) contribute nothing; a row no token names is +0.0,',
    '  or unchanged with accumulate == 1.)',
    'Every element is one sequential sum in increasing t, so any parallel scheme must keep that order: e.g. a stable',
    'counting sort of token indices by id (which keeps increasing t within an id), then one thread per (id, j) walking',
    'its segment. Float atomics are not allowed (their order varies between runs).',
  ].join('\n'),
  params: [...embeddingParams, accumulateParam],
  derived: {},
  preconditions: [...embeddingPre, requires.oneOf('accumulate', [0, 1])],
  bindings: [
    idsBinding,
    { name: 'dout', dtype: 'f32', shape: ['n', 'c'], access: 'read', doc: 'gradient of the embeddings [B·T, C]' },
    { name: 'dtable', dtype: 'f32', shape: ['v', 'c'], access: 'readwrite', doc: 'gradient of the table [V, C]; read only when accumulate == 1' },
  ],
  tolerance: { dtable: exact },
  cost: (p) => ({ flops: p.n * p.c, bytes: 4 * p.n + 4 * p.n * p.c + (p.accumulate ? 8 : 4) * p.v * p.c }),
});

// ---------------------------------------------------------------------------------------------
// nn.rmsnorm, nn.rmsnorm_backward
// ---------------------------------------------------------------------------------------------

/**
 * WGSL (division 2.5 ulp, sqrt 4.5 ulp): rstd = 1/sqrt(var + eps) is within about 8e relative (the
 * mean's division adds 2.5e, the sqrt 4.5e, the reciprocal 2.5e, less overlap: 10e); y adds its two
 * roundings. Relative bounds, with an absolute floor for subnormal outputs.
 */
const RMSNORM_APPROXIMATE = { kind: 'close', maxAbs: 2 ** -126, maxRel: 12 * E } as const;

const rowsParams = [u32('n', 'rows (tokens B·T)'), u32('c', 'row width C (< 2^24, so f32(c) is exact)')] as const;
const rowsPre = [requires.positive('n'), requires.inRange('c', 1, 2 ** 24 - 1), fits('n', 'x (n*c)', (p) => p.n * p.c)];

export const rmsnorm = defineKernel({
  id: 'nn.rmsnorm',
  summary: "RMSNorm per row as transformers' LlamaRMSNorm: y = w · (x · rsqrt(mean(x²) + eps)); also writes rstd for backward.",
  math: [
    'For each row r < n (x_j = x[r*c + j]):',
    '  ss = rowsum32(0, c, j -> f(x_j * x_j))             hidden_states.pow(2) summed',
    '  var = f(ss / c)                                     .mean(-1): the sum, then one division by c',
    '  rstd = f(1 / f(sqrt(f(var + eps))))                 torch.rsqrt(variance + eps), as two IEEE operations',
    '  y[r*c + j] = f(w[j] * f(x_j * rstd))                weight * (hidden_states * rstd)',
    '  rstd_out[r] = rstd.',
    'rsqrt is written as 1/sqrt because no runtime has a correctly rounded rsqrt (CUDA rsqrtf and WGSL inverseSqrt',
    'are 2 ulp): with sqrt and division IEEE, wasm and CUDA agree bit for bit. A zero row gives rstd = 1/sqrt(eps).',
  ].join('\n'),
  params: [...rowsParams, f32('eps', 'variance epsilon (rms_norm_eps)')],
  derived: {},
  preconditions: [...rowsPre, { param: 'eps', requirement: 'eps is finite and > 0', check: (p) => Number.isFinite(p.eps) && p.eps > 0 }],
  bindings: [
    { name: 'x', dtype: 'f32', shape: ['n', 'c'], access: 'read', doc: 'input rows [n, C]' },
    { name: 'w', dtype: 'f32', shape: ['c'], access: 'read', doc: 'weight [C]' },
    { name: 'y', dtype: 'f32', shape: ['n', 'c'], access: 'write', doc: 'normalized rows [n, C]' },
    { name: 'rstd', dtype: 'f32', shape: ['n'], access: 'write', doc: 'per row 1/sqrt(mean(x²) + eps), saved for backward' },
  ],
  tolerance: { y: exact, rstd: exact },
  approximate: { y: RMSNORM_APPROXIMATE, rstd: RMSNORM_APPROXIMATE },
  cost: (p) => ({ flops: 4 * p.n * p.c, bytes: 8 * p.n * p.c + 4 * p.c + 4 * p.n }),
});

export const rmsnormBackward = defineKernel({
  id: 'nn.rmsnorm_backward',
  summary: 'RMSNorm gradient: dx per row from the saved rstd, and dw summed over rows in row order (accumulate flag).',
  math: [
    'For each row r < n (x_j = x[r*c + j], dy_j = dy[r*c + j], rs = rstd[r]):',
    '  xhat_j = f(x_j * rs)                                exactly the forward\'s normalized value',
    '  g_j = f(dy_j * w[j])',
    '  dot = rowsum32(0, c, j -> f(g_j * xhat_j))',
    '  mu = f(dot / c)',
    '  dx[r*c + j] = f(rs * f(g_j - f(xhat_j * mu)))       dx = rstd·(g - xhat·mean(g·xhat))',
    'For j < c: acc = accumulate == 1 ? dw[j] : +0.0; for r = 0, 1, ..., n-1 in this order:',
    '  acc = f(acc + f(dy[r*c + j] * xhat_rj)); dw[j] = acc.   (One sequential sum per column: a thread per j walking',
    '  rows, or row blocks whose partials are kept and added in row order, never atomics.)',
    'rstd is an input (the forward\'s), so xhat and dw use no division or sqrt: dw is exact on every runtime.',
  ].join('\n'),
  params: [...rowsParams, accumulateParam],
  derived: {},
  preconditions: [...rowsPre, requires.oneOf('accumulate', [0, 1])],
  bindings: [
    { name: 'x', dtype: 'f32', shape: ['n', 'c'], access: 'read', doc: 'the forward input [n, C]' },
    { name: 'w', dtype: 'f32', shape: ['c'], access: 'read', doc: 'weight [C]' },
    { name: 'rstd', dtype: 'f32', shape: ['n'], access: 'read', doc: 'the forward\'s rstd per row' },
    { name: 'dy', dtype: 'f32', shape: ['n', 'c'], access: 'read', doc: 'gradient of y [n, C]' },
    { name: 'dx', dtype: 'f32', shape: ['n', 'c'], access: 'write', doc: 'gradient of x [n, C]' },
    { name: 'dw', dtype: 'f32', shape: ['c'], access: 'readwrite', doc: 'gradient of w [C]; read only when accumulate == 1' },
  ],
  tolerance: { dx: exact, dw: exact },
  // dx: mu carries WGSL's 2.5-ulp division; g - xhat·mu may cancel, so the bound is absolute in
  // units of |xhat·mu|·rs (|x|, |w|, |dy| <= 8 in the cases: 2^-16 holds with room).
  approximate: { dx: { kind: 'close', maxAbs: 2 ** -16, maxRel: 8 * E } },
  cost: (p) => ({ flops: 9 * p.n * p.c, bytes: 12 * p.n * p.c + (p.accumulate ? 12 : 8) * p.c + 4 * p.n }),
});

// ---------------------------------------------------------------------------------------------
// nn.rope, nn.rope_backward
// ---------------------------------------------------------------------------------------------

const ropeParams = [
  u32('n', 'tokens (B·T)'),
  u32('h', 'heads in x (H for q, Hkv for k: one dispatch each)'),
  u32('d', 'head dim D (even)'),
  u32('max_pos', 'rows of the cos/sin tables (positions 0..max_pos-1)'),
] as const;
const ropeDerived = { half: (p: Params) => p.d / 2 };
const ropePre = [
  requires.positive('n'),
  requires.positive('h'),
  { param: 'd', requirement: 'd is even and >= 2', check: (p: Params) => p.d >= 2 && p.d % 2 === 0 },
  requires.positive('max_pos'),
  fits('n', 'x (n*h*d)', (p) => p.n * p.h * p.d),
  fits('max_pos', 'cos (max_pos*d/2)', (p) => (p.max_pos * p.d) / 2),
];
const ropeTables = [
  { name: 'pos', dtype: 'i32', shape: ['n'], access: 'read', doc: 'position id per token (restarting at 0 for each packed document)' },
  { name: 'cos', dtype: 'f32', shape: ['max_pos', 'half'], access: 'read', doc: 'cos[p, i] = f32(cos(f32(f32(p) * inv_freq[i]))), host-computed' },
  { name: 'sin', dtype: 'f32', shape: ['max_pos', 'half'], access: 'read', doc: 'sin[p, i] = f32(sin(f32(f32(p) * inv_freq[i]))), host-computed' },
] as const;
const ROPE_TABLES_MATH = [
  'cos and sin are tables computed on the host (ropeTables in @kvant/reference): inv_freq f32 [D/2] from rope_scaling',
  '(default, linear, llama3: ropeInvFreq, as transformers computes it in f32), angle = f(f32(p) * inv_freq[i]) as',
  "transformers' f32 matmul of inv_freq and position ids, then cos/sin in f64 rounded once to f32 (times",
  'attention_scaling, 1 for these types). So the kernel only multiplies and adds: exact on every runtime. The',
  "table holds D/2 columns: transformers' emb = cat(freqs, freqs) repeats them for i and i + D/2.",
];

export const rope = defineKernel({
  id: 'nn.rope',
  summary: "Rotary position embedding, rotate-half as transformers' apply_rotary_pos_emb, from host-computed cos/sin tables.",
  math: [
    'x and y are [n, h, d] (a token\'s heads consecutive: [B, T, H, D] as the q/k projections write them). For token t,',
    'head hh, i < d/2, base = (t*h + hh)*d, P = pos[t]:',
    '  0 <= P < max_pos:  c = cos[P*(d/2) + i], s = sin[P*(d/2) + i], x1 = x[base + i], x2 = x[base + i + d/2]',
    '    y[base + i]       = f(f(x1 * c) - f(x2 * s))        x·cos + rotate_half(x)·sin, rotate_half(x) = cat(-x2, x1)',
    '    y[base + i + d/2] = f(f(x2 * c) + f(x1 * s))',
    '  otherwise: both are +0.0 (the host validates positions; the kernel reads nothing out of bounds).',
    ...ROPE_TABLES_MATH,
    'Out of place (the validator forbids binding one tensor as x and y).',
  ].join('\n'),
  params: ropeParams,
  derived: ropeDerived,
  preconditions: ropePre,
  bindings: [
    { name: 'x', dtype: 'f32', shape: ['n', 'h', 'd'], access: 'read', doc: 'q or k before rotation [B·T, H, D]' },
    ...ropeTables,
    { name: 'y', dtype: 'f32', shape: ['n', 'h', 'd'], access: 'write', doc: 'rotated [B·T, H, D]' },
  ],
  tolerance: { y: exact },
  cost: (p) => ({ flops: 3 * p.n * p.h * p.d, bytes: 8 * p.n * p.h * p.d + 4 * p.n + 4 * p.n * p.d }),
});

export const ropeBackward = defineKernel({
  id: 'nn.rope_backward',
  summary: 'Rotary embedding gradient: the transpose rotation of dy with the same cos/sin tables.',
  math: [
    'For token t, head hh, i < d/2 (as nn.rope), 0 <= P < max_pos, g1 = dy[base + i], g2 = dy[base + i + d/2]:',
    '  dx[base + i]       = f(f(g1 * c) + f(g2 * s))',
    '  dx[base + i + d/2] = f(f(g2 * c) - f(g1 * s))',
    '  otherwise both +0.0. (The transpose of [[c, -s], [s, c]]; what autograd of q·cos + rotate_half(q)·sin gives.)',
  ].join('\n'),
  params: ropeParams,
  derived: ropeDerived,
  preconditions: ropePre,
  bindings: [
    { name: 'dy', dtype: 'f32', shape: ['n', 'h', 'd'], access: 'read', doc: 'gradient of the rotated q or k [B·T, H, D]' },
    ...ropeTables,
    { name: 'dx', dtype: 'f32', shape: ['n', 'h', 'd'], access: 'write', doc: 'gradient before rotation [B·T, H, D]' },
  ],
  tolerance: { dx: exact },
  cost: (p) => ({ flops: 3 * p.n * p.h * p.d, bytes: 8 * p.n * p.h * p.d + 4 * p.n + 4 * p.n * p.d }),
});

// ---------------------------------------------------------------------------------------------
// nn.attention, nn.attention_backward
// ---------------------------------------------------------------------------------------------

const attentionParams = [
  u32('b', 'batch B'),
  u32('t', 'tokens per row T (queries and keys)'),
  u32('h', 'query heads H'),
  u32('h_kv', 'key/value heads Hkv (H % Hkv == 0; head hh reads kv head hh / (H / Hkv))'),
  u32('d', 'head dim D'),
  u32('window', 'sliding window: 0 = none; else query i sees keys j > i - window (Mistral sliding_window)'),
  f32('scale', 'score scale, 1/sqrt(D) computed by the caller in f64 and rounded to f32'),
] as const;
const attentionPre = [
  requires.positive('b'),
  requires.positive('t'),
  requires.positive('h'),
  requires.positive('h_kv'),
  { param: 'h_kv', requirement: 'h_kv divides h', check: (p: Params) => p.h % p.h_kv === 0 },
  requires.inRange('d', 1, ATTENTION_MAX_D),
  { param: 'scale', requirement: 'scale is finite and > 0', check: (p: Params) => Number.isFinite(p.scale) && p.scale > 0 },
  fits('t', 'q (b*t*h*d)', (p) => p.b * p.t * p.h * p.d),
];
const ATTENTION_MASK_MATH = [
  'Layouts: q, o [B, T, H, D]; k, v [B, T, Hkv, D]; lse [B, H, T]; pos [B, T]. Row bb, query head hh, kv head',
  'g = hh / (h / h_kv) (grouped-query attention: consecutive query heads share a kv head, as transformers\' repeat_kv).',
  'Keys of query i (the mask): P = pos[bb*t + i], lo = i - min(max(P, 0), i); if window > 0: lo = max(lo, i - window + 1);',
  '  query i attends keys j in [lo, i] (never empty: j = i is always in). With position ids that restart at 0 at each',
  '  packed document and grow by one per token, i - P is the document\'s first token: causal, within the document only,',
  '  within the window. (An unpacked row has pos = 0..T-1, so lo = 0.)',
  'Scores: s_ij = f(dot_ij * scale), dot_ij = +0.0, then dot = f(dot + f(q_i[dd] * k_j[dd])) for dd = 0..d-1 in order.',
];

/**
 * nn.attention's bounds, derived in units of e = 2^-23 and checked by nn.test.ts. Scores,
 * maxima and s - m are identical on every runtime (mul/add/compare in a fixed order); only exp
 * differs, by up to 2 ulp (expf on CUDA, wasm, WGSL) from the reference's correctly rounded one.
 * Each p_ij and each rescale factor then has a relative error <= 2e, and l and acc are sums of
 * at most T products whose rounding may go the other way at every step (1 ulp of the partial sum
 * each): |Δacc| <= (2e + T·e)·Σ p|v|, |Δl| <= (2e + T·e)·l. With o = acc / l and Σp|v| / l <= max|v|,
 * |Δo| <= 2(2 + T)e·max|v|, which is the worst case; rounding differences are random in sign, so
 * the observed error grows as sqrt(T) (and a common bias of exp cancels in acc / l): with exp
 * and log moved by up to 3 ulp at random the cases (|v| randn, T <= 129) stay below 6e-7 on o and
 * lse. The bound: maxAbs 2^-17 (7.6e-6, for outputs of magnitude ~1) plus 16e relative, about 12
 * times the largest observed error. A 1-position mask error (a window or a document start one
 * token off) or a scale of 1/D moves o by more than 10 times the bound on every case that has it
 * (conformance/src/fd.test.ts checks both). lse = m + log(l): |Δlse| <= Δl/l + 2 ulp(log l) + 1 ulp(lse).
 */
export const ATTENTION_TOLERANCE = { kind: 'close', maxAbs: 2 ** -17, maxRel: 16 * E } as const;

export const attention = defineKernel({
  id: 'nn.attention',
  summary: 'Causal grouped-query attention with packed-document masks and an optional sliding window, FlashAttention-2 online softmax over key tiles of 64; writes o and the row log-sum-exp.',
  math: [
    ...ATTENTION_MASK_MATH,
    'Online softmax (FlashAttention-2) per query row i: m = -Inf, l = +0.0, acc[0..d-1] = +0.0. For each key tile',
    'K = [64·kt, 64·kt + 64) that meets [lo, i], in increasing kt, over its keys J = K ∩ [lo, i] in increasing j:',
    '  mt = max_{j in J} s_ij;  mn = max(m, mt)',
    '  alpha = m == -Inf ? +0.0 : f(exp(f(m - mn)))                     the rescale factor exp(m_old - m_new)',
    '  p_j = f(exp(f(s_ij - mn)))',
    '  ps = +0.0; for j in J in order: ps = f(ps + p_j);     l = f(f(l * alpha) + ps)',
    '  for dd < d: pv = +0.0; for j in J in order: pv = f(pv + f(p_j * v_j[dd]));   acc[dd] = f(f(acc[dd] * alpha) + pv)',
    '  m = mn',
    'Then o_i[dd] = f(acc[dd] / l) and lse[(bb*h + hh)*t + i] = f(m + f(log(l))).',
    'No T x T buffer: an implementation works per query tile with a working set bounded by tile sizes and d, and may not',
    'allocate O(T²) memory (scratch or otherwise); the model issue tests the allocation sizes at T = 2048.',
    'Inputs are finite (NaN/Inf in q, k or v: results unspecified).',
  ].join('\n'),
  params: attentionParams,
  derived: {},
  preconditions: attentionPre,
  bindings: [
    { name: 'q', dtype: 'f32', shape: ['b', 't', 'h', 'd'], access: 'read', doc: 'queries [B, T, H, D] (after rope)' },
    { name: 'k', dtype: 'f32', shape: ['b', 't', 'h_kv', 'd'], access: 'read', doc: 'keys [B, T, Hkv, D] (after rope)' },
    { name: 'v', dtype: 'f32', shape: ['b', 't', 'h_kv', 'd'], access: 'read', doc: 'values [B, T, Hkv, D]' },
    { name: 'pos', dtype: 'i32', shape: ['b', 't'], access: 'read', doc: 'position ids: 0 starts a document' },
    { name: 'o', dtype: 'f32', shape: ['b', 't', 'h', 'd'], access: 'write', doc: 'attention output [B, T, H, D]' },
    { name: 'lse', dtype: 'f32', shape: ['b', 'h', 't'], access: 'write', doc: 'log-sum-exp of each query row\'s scaled scores [B, H, T], for backward' },
  ],
  tolerance: { o: ATTENTION_TOLERANCE, lse: ATTENTION_TOLERANCE },
  cost: (p): Cost => ({
    // Causal: about half the T x T scores, each a D-long dot for QKᵀ and for PV.
    flops: 2 * p.b * p.h * p.t * (p.t + 1) * p.d,
    bytes: 4 * p.b * p.t * (2 * p.h * p.d + 2 * p.h_kv * p.d + 1 + p.h),
  }),
});

/**
 * nn.attention_backward's bound: P = exp(s - lse) has relative error 2e per element (s and lse
 * are identical inputs); dS = P·(dP - delta) inherits it; dq, dk, dv are sums of at most T (dk,
 * dv: T·H/Hkv) such products whose roundings may differ: the worst case (2 + T·H/Hkv)e·Σ|terms|,
 * observed far below (sqrt): under 1.3e-6 on the cases with exp 3 ulp off (gradients O(1): q, k,
 * v, dout randn). maxAbs 2^-16 (1.5e-5) plus 16e relative: about 12 times that.
 */
export const ATTENTION_BACKWARD_TOLERANCE = { kind: 'close', maxAbs: 2 ** -16, maxRel: 16 * E } as const;

export const attentionBackward = defineKernel({
  id: 'nn.attention_backward',
  summary: 'Gradient of nn.attention (FlashAttention-2 backward): recomputes P from the saved lse, deterministic sums in a fixed order, no atomics.',
  math: [
    ...ATTENTION_MASK_MATH,
    'Per query row i of head hh (kv head g), keys j in [lo, i]:',
    '  P_ij = f(exp(f(s_ij - lse_i)))',
    '  delta_i = +0.0; for dd < d in order: delta_i = f(delta_i + f(dout_i[dd] * o_i[dd]))      rowsum(dO ∘ O)',
    '  dP_ij = +0.0; for dd < d in order: dP_ij = f(dP_ij + f(dout_i[dd] * v_j[dd]))',
    '  dS_ij = f(P_ij * f(dP_ij - delta_i))',
    'dq_i[dd] = f(scale * a), a = +0.0, a = f(a + f(dS_ij * k_j[dd])) over j = lo..i increasing.',
    'For key j of kv head g, over the query heads hh = g·(h/h_kv) .. g·(h/h_kv) + h/h_kv - 1 increasing, and within a head',
    'over the queries i increasing whose key range holds j (one accumulator across heads and queries):',
    '  dv_j[dd]: a = f(a + f(P_ij * dout_i[dd])), from +0.0;   dk_j[dd] = f(scale * a), a = f(a + f(dS_ij * q_i[dd])).',
    'So dq is a pass over key tiles per query tile and dk/dv a pass over query tiles per key tile, each output written',
    'by one owner; no float atomics (FlashAttention-2\'s atomic dq is not allowed). delta is scratch [B, H, T] for a',
    'pre-pass computing delta_i (contents unspecified). No O(T²) memory, as the forward.',
  ].join('\n'),
  params: attentionParams,
  derived: {},
  preconditions: attentionPre,
  bindings: [
    { name: 'q', dtype: 'f32', shape: ['b', 't', 'h', 'd'], access: 'read', doc: 'queries [B, T, H, D]' },
    { name: 'k', dtype: 'f32', shape: ['b', 't', 'h_kv', 'd'], access: 'read', doc: 'keys [B, T, Hkv, D]' },
    { name: 'v', dtype: 'f32', shape: ['b', 't', 'h_kv', 'd'], access: 'read', doc: 'values [B, T, Hkv, D]' },
    { name: 'pos', dtype: 'i32', shape: ['b', 't'], access: 'read', doc: 'position ids, as the forward' },
    { name: 'o', dtype: 'f32', shape: ['b', 't', 'h', 'd'], access: 'read', doc: 'the forward output [B, T, H, D]' },
    { name: 'lse', dtype: 'f32', shape: ['b', 'h', 't'], access: 'read', doc: 'the forward log-sum-exp [B, H, T]' },
    { name: 'dout', dtype: 'f32', shape: ['b', 't', 'h', 'd'], access: 'read', doc: 'gradient of o [B, T, H, D]' },
    { name: 'dq', dtype: 'f32', shape: ['b', 't', 'h', 'd'], access: 'write', doc: 'gradient of q [B, T, H, D]' },
    { name: 'dk', dtype: 'f32', shape: ['b', 't', 'h_kv', 'd'], access: 'write', doc: 'gradient of k [B, T, Hkv, D], summed over the heads of the group' },
    { name: 'dv', dtype: 'f32', shape: ['b', 't', 'h_kv', 'd'], access: 'write', doc: 'gradient of v [B, T, Hkv, D], summed over the heads of the group' },
    { name: 'delta', dtype: 'f32', shape: ['b', 'h', 't'], access: 'readwrite', scratch: true, doc: 'scratch for rowsum(dout ∘ o); contents unspecified' },
  ],
  tolerance: { dq: ATTENTION_BACKWARD_TOLERANCE, dk: ATTENTION_BACKWARD_TOLERANCE, dv: ATTENTION_BACKWARD_TOLERANCE },
  cost: (p): Cost => ({
    flops: 5 * p.b * p.h * p.t * (p.t + 1) * p.d,
    bytes: 4 * p.b * p.t * (4 * p.h * p.d + 4 * p.h_kv * p.d + 2 * p.h),
  }),
});

// ---------------------------------------------------------------------------------------------
// nn.attention_decode, nn.kv_append (generation with a KV cache)
// ---------------------------------------------------------------------------------------------

export const attentionDecode = defineKernel({
  id: 'nn.attention_decode',
  summary: 'nn.attention for the last t_q of t_k tokens against a KV cache [B, S, Hkv, D] whose first t_k rows are valid: the same mask and the same online softmax over key tiles of 64, so a decode step gives the bits of the full forward\'s rows.',
  math: [
    'Layouts: q, o [B, Tq, H, D]; k_cache, v_cache [B, S, Hkv, D] (rows j < t_k valid, the rest never read); pos [B, Tq].',
    'Query iq of row bb is token i = t_k - t_q + iq of that row; query head hh reads kv head g = hh / (h / h_kv).',
    'Keys of query iq (nn.attention\'s mask at token i): P = pos[bb*t_q + iq], lo = i - min(max(P, 0), i); if window > 0:',
    '  lo = max(lo, i - window + 1); the query attends keys j in [lo, i] (never empty).',
    'Scores: s_ij = f(dot_ij * scale), dot_ij = +0.0, then dot = f(dot + f(q_iq[dd] * k_j[dd])) for dd = 0..d-1 in order.',
    'Online softmax exactly as nn.attention (key tiles K = [64·kt, 64·kt + 64) from key 0, in increasing kt, over',
    '  J = K ∩ [lo, i]): mn = max(m, max_J s); alpha = m == -Inf ? +0.0 : f(exp(f(m - mn))); p_j = f(exp(f(s_ij - mn)));',
    '  l = f(f(l * alpha) + (sum_J p_j in order)); acc[dd] = f(f(acc[dd] * alpha) + (sum_J f(p_j * v_j[dd]) in order)); m = mn.',
    'Then o_iq[dd] = f(acc[dd] / l). No lse (decoding has no backward).',
    'So with t_q = t_k = T, S = T and the cache holding nn.attention\'s k and v, o equals nn.attention\'s o bit for bit on a',
    'runtime that uses the same exp in both (every runtime here does).',
    'Inputs are finite in the valid rows (results unspecified otherwise).',
  ].join('\n'),
  params: [
    u32('b', 'batch B'),
    u32('t_q', 'new queries per row Tq (the last Tq of the t_k tokens)'),
    u32('t_k', 'valid cache rows (tokens so far, the new ones included)'),
    u32('s', 'cache capacity S (rows per batch row of k_cache and v_cache)'),
    u32('h', 'query heads H'),
    u32('h_kv', 'key/value heads Hkv (H % Hkv == 0)'),
    u32('d', 'head dim D'),
    u32('window', 'sliding window: 0 = none; else token i sees keys j > i - window'),
    f32('scale', 'score scale, 1/sqrt(D) computed by the caller in f64 and rounded to f32'),
  ],
  derived: {},
  preconditions: [
    requires.positive('b'),
    requires.positive('t_q'),
    { param: 't_k', requirement: 't_q <= t_k <= s', check: (p) => p.t_k >= p.t_q && p.t_k <= p.s },
    requires.positive('h'),
    requires.positive('h_kv'),
    { param: 'h_kv', requirement: 'h_kv divides h', check: (p) => p.h % p.h_kv === 0 },
    requires.inRange('d', 1, ATTENTION_MAX_D),
    { param: 'scale', requirement: 'scale is finite and > 0', check: (p) => Number.isFinite(p.scale) && p.scale > 0 },
    fits('s', 'k_cache (b*s*h_kv*d)', (p) => p.b * p.s * p.h_kv * p.d),
    fits('t_q', 'q (b*t_q*h*d)', (p) => p.b * p.t_q * p.h * p.d),
  ],
  bindings: [
    { name: 'q', dtype: 'f32', shape: ['b', 't_q', 'h', 'd'], access: 'read', doc: 'queries of the new tokens [B, Tq, H, D] (after rope)' },
    { name: 'k_cache', dtype: 'f32', shape: ['b', 's', 'h_kv', 'd'], access: 'read', doc: 'keys [B, S, Hkv, D] (after rope), rows < t_k valid' },
    { name: 'v_cache', dtype: 'f32', shape: ['b', 's', 'h_kv', 'd'], access: 'read', doc: 'values [B, S, Hkv, D], rows < t_k valid' },
    { name: 'pos', dtype: 'i32', shape: ['b', 't_q'], access: 'read', doc: 'position ids of the new tokens (0 starts a document)' },
    { name: 'o', dtype: 'f32', shape: ['b', 't_q', 'h', 'd'], access: 'write', doc: 'attention output [B, Tq, H, D]' },
  ],
  // nn.attention's bound (the same sums over at most t_k keys, exp the only difference between runtimes).
  tolerance: { o: ATTENTION_TOLERANCE },
  cost: (p): Cost => {
    // Query iq sees at most t_k - t_q + iq + 1 keys; each a D-long dot for QKᵀ and for PV.
    const keys = p.t_q * (p.t_k - p.t_q) + (p.t_q * (p.t_q + 1)) / 2;
    return { flops: 4 * p.b * p.h * keys * p.d, bytes: 4 * p.b * (2 * p.t_q * p.h * p.d + 2 * p.t_k * p.h_kv * p.d + p.t_q) };
  },
});

export const kvAppend = defineKernel({
  id: 'nn.kv_append',
  summary: 'Append t_new rows of w words to a per-batch-row cache at row t0: the strided copy that writes new keys or values into a KV cache.',
  math: [
    'cache[(bb*s + t0 + i)*w + c] = src[(bb*t_new + i)*w + c] for bb < b, i < t_new, c < w, as bits (NaN payloads kept);',
    'every other element of cache is left as it was. For a KV cache w = Hkv·D and src is the new k or v [B, Tnew, Hkv, D].',
  ].join('\n'),
  params: [
    u32('b', 'batch B'),
    u32('t_new', 'rows appended per batch row'),
    u32('t0', 'first row written (rows already in the cache)'),
    u32('s', 'cache capacity S (rows per batch row)'),
    u32('w', 'words per row (Hkv·D for keys and values)'),
  ],
  derived: {},
  preconditions: [
    requires.positive('b'),
    requires.positive('t_new'),
    requires.positive('w'),
    { param: 't0', requirement: 't0 + t_new <= s', check: (p) => p.t0 + p.t_new <= p.s },
    fits('s', 'cache (b*s*w)', (p) => p.b * p.s * p.w),
  ],
  bindings: [
    { name: 'src', dtype: 'f32', shape: ['b', 't_new', 'w'], access: 'read', doc: 'the new rows [B, Tnew, W]' },
    { name: 'cache', dtype: 'f32', shape: ['b', 's', 'w'], access: 'readwrite', doc: 'the cache [B, S, W]; rows t0 .. t0 + t_new - 1 written' },
  ],
  tolerance: { cache: exact },
  cost: (p) => ({ flops: 0, bytes: 8 * p.b * p.t_new * p.w }),
});

// ---------------------------------------------------------------------------------------------
// nn.swiglu, nn.swiglu_backward
// ---------------------------------------------------------------------------------------------

const swigluParams = [u32('n', 'rows (tokens B·T)'), u32('inter', 'intermediate width I')] as const;
const swigluPre = [requires.positive('n'), requires.positive('inter'), fits('n', 'gate (n*inter)', (p) => p.n * p.inter)];

/**
 * silu(g) = g / (1 + exp(-g)): exp 2e off makes 1 + exp(-g) at most 2e off (relative), the
 * division and the product may each round the other way (1e): out within 4e relative; 8e
 * leaves room. An exp that overflows near g = -88.7 on one runtime but not the other gives
 * -0 against |g·up|/3e38 < 1e-36: the absolute floor 2^-100 covers it (and flushed subnormals).
 */
const SWIGLU_TOLERANCE = { kind: 'close', maxAbs: 2 ** -100, maxRel: 8 * E } as const;

export const swiglu = defineKernel({
  id: 'nn.swiglu',
  summary: 'SwiGLU: out = silu(gate) · up, element-wise over [N, I].',
  math: [
    'For e < n*inter: g = gate[e]; out[e] = f(f(g / f(1 + f(exp(-g)))) * up[e])   (torch silu: x / (1 + exp(-x)))',
  ].join('\n'),
  params: swigluParams,
  derived: {},
  preconditions: swigluPre,
  bindings: [
    { name: 'gate', dtype: 'f32', shape: ['n', 'inter'], access: 'read', doc: 'gate_proj output [N, I]' },
    { name: 'up', dtype: 'f32', shape: ['n', 'inter'], access: 'read', doc: 'up_proj output [N, I]' },
    { name: 'out', dtype: 'f32', shape: ['n', 'inter'], access: 'write', doc: 'silu(gate)·up [N, I], the input of down_proj' },
  ],
  tolerance: { out: SWIGLU_TOLERANCE },
  cost: (p) => ({ flops: 5 * p.n * p.inter, bytes: 12 * p.n * p.inter }),
});

export const swigluBackward = defineKernel({
  id: 'nn.swiglu_backward',
  summary: 'SwiGLU gradient: dgate and dup from gate, up and dout.',
  math: [
    'For e < n*inter: g = gate[e], u = up[e], dy = dout[e]; ex = f(exp(-g));',
    '  dup[e] = f(dy * f(g / f(1 + ex)))                                   dy · silu(g), silu as the forward',
    '  sig = f(1 / f(1 + ex))',
    '  dgate[e] = f(f(f(dy * u) * sig) * f(1 + f(g * f(1 - sig))))        torch silu_backward: dy·sig·(1 + g·(1 - sig))',
  ].join('\n'),
  params: swigluParams,
  derived: {},
  preconditions: swigluPre,
  bindings: [
    { name: 'gate', dtype: 'f32', shape: ['n', 'inter'], access: 'read', doc: 'gate_proj output [N, I]' },
    { name: 'up', dtype: 'f32', shape: ['n', 'inter'], access: 'read', doc: 'up_proj output [N, I]' },
    { name: 'dout', dtype: 'f32', shape: ['n', 'inter'], access: 'read', doc: 'gradient of out [N, I]' },
    { name: 'dgate', dtype: 'f32', shape: ['n', 'inter'], access: 'write', doc: 'gradient of gate [N, I]' },
    { name: 'dup', dtype: 'f32', shape: ['n', 'inter'], access: 'write', doc: 'gradient of up [N, I]' },
  ],
  // dup as the forward. dgate: 1 - sig cancels for large g and 1 + g·(1 - sig) crosses 0 near
  // g = -1.28, so its error is absolute in units of |dy·u|: <= (4 + 3|g|)e·|dy·u|, observed under
  // 2.5e-7 with exp 3 ulp off for the cases' |g| <= 12, |dy·u| <= 16: 2^-18 (3.8e-6) holds with room.
  tolerance: { dgate: { kind: 'close', maxAbs: 2 ** -18, maxRel: 16 * E }, dup: SWIGLU_TOLERANCE },
  cost: (p) => ({ flops: 12 * p.n * p.inter, bytes: 20 * p.n * p.inter }),
});

// ---------------------------------------------------------------------------------------------
// nn.cross_entropy, nn.cross_entropy_backward
// ---------------------------------------------------------------------------------------------

const ceParams = [u32('n', 'rows (tokens)'), u32('v', 'vocabulary size V'), i32('ignore_index', 'label of a token without loss or gradient (-100)')] as const;
const ceDerived = { chunks: (p: Params) => Math.ceil(p.v / CROSS_ENTROPY_CHUNK) };
const cePre = [requires.positive('n'), requires.positive('v'), fits('n', 'logits (n*v)', (p) => p.n * p.v)];
const labelsBinding = { name: 'labels', dtype: 'i32', shape: ['n'], access: 'read', doc: 'target token per row; ignore_index for none' } as const;

/**
 * The loss is (m - x_label) + log(s) and lse is m + log(s), where m and x_label are identical
 * everywhere and s is a sum of correctly rounded or 2-ulp exps: |Δs|/s <= 2e + (rounding order,
 * observed < 8e for V <= 5000), so |Δlog s| <= 10e + 2 ulp(log s) <= 2^-18 for log s <= 12, and
 * the final addition adds 1 ulp of the result. So the bound is absolute 2^-18 plus 4e relative —
 * independent of the logits' magnitude (the loss is not computed as lse - x_label, whose
 * rounding would carry ulp(lse) into a loss near 0).
 */
const CE_TOLERANCE = { kind: 'close', maxAbs: 2 ** -18, maxRel: 4 * E } as const;

export const crossEntropy = defineKernel({
  id: 'nn.cross_entropy',
  summary: 'Softmax cross-entropy per row with ignore_index, an online log-sum-exp over vocabulary chunks of 4096; writes loss and lse.',
  math: [
    'Per row r < n, x_j = logits[r*v + j], chunks C_q = [4096q, min(v, 4096q + 4096)) in increasing q:',
    '  cm = max of x over C_q (order-free; a NaN never wins the max but enters the sum below, so it makes the loss NaN)',
    '  q == 0: m = cm, s = rowsum32(C_0, j -> f(exp(f(x_j - m))))',
    '  q > 0:  mn = max(m, cm); s = f(f(s * f(exp(f(m - mn)))) + rowsum32(C_q, j -> f(exp(f(x_j - mn))))); m = mn',
    '  (rowsum32 over the chunk\'s range, lanes counted from its first element.)',
    '  lse[r] = f(m + f(log(s)))',
    '  label = labels[r]: label == ignore_index: loss[r] = +0.0;',
    '    0 <= label < v: loss[r] = f(f(m - x_label) + f(log(s)))     (= -log_softmax[label], as torch computes it)',
    '    otherwise: loss[r] = NaN (the host validates labels; a NaN loss is reported, never silent).',
    'Mean reduction is the caller\'s: sum the losses and divide by the number of non-ignored labels.',
  ].join('\n'),
  params: ceParams,
  derived: ceDerived,
  preconditions: cePre,
  bindings: [
    { name: 'logits', dtype: 'f32', shape: ['n', 'v'], access: 'read', doc: 'logits [N, V]' },
    labelsBinding,
    { name: 'loss', dtype: 'f32', shape: ['n'], access: 'write', doc: 'per-row loss [N] (+0 for ignored rows)' },
    { name: 'lse', dtype: 'f32', shape: ['n'], access: 'write', doc: 'per-row log-sum-exp [N], saved for backward (written for ignored rows too)' },
  ],
  tolerance: { loss: CE_TOLERANCE, lse: CE_TOLERANCE },
  cost: (p) => ({ flops: 4 * p.n * p.v, bytes: 4 * p.n * p.v + 12 * p.n }),
});

export const crossEntropyBackward = defineKernel({
  id: 'nn.cross_entropy_backward',
  summary: 'Cross-entropy gradient (softmax - onehot)·dloss per row from the saved lse, in place over the logits (no second V-sized buffer).',
  math: [
    'dlogits holds the logits on entry and the gradient on exit (in place: the kernel reads x_j, then writes its',
    'gradient; nothing else is V-sized). Per row r, label = labels[r], dl = dloss[r]:',
    '  label == ignore_index: every element of the row is +0.0;',
    '  otherwise, for j < v: p = f(exp(f(x_j - lse[r]))); g = j == label ? f(p - 1) : p; dlogits[r*v + j] = f(g * dl).',
    '  (A label outside [0, v) has no onehot term; the forward already reported it with a NaN loss.)',
    'Element-wise given lse: chunking over v is free. dloss carries the reduction (e.g. 1 / number of labels for the',
    'mean, times the loss scale).',
  ].join('\n'),
  params: ceParams,
  derived: ceDerived,
  preconditions: cePre,
  bindings: [
    { name: 'dlogits', dtype: 'f32', shape: ['n', 'v'], access: 'readwrite', doc: 'logits on entry, their gradient on exit [N, V]' },
    labelsBinding,
    { name: 'lse', dtype: 'f32', shape: ['n'], access: 'read', doc: 'the forward\'s log-sum-exp per row' },
    { name: 'dloss', dtype: 'f32', shape: ['n'], access: 'read', doc: 'gradient of each row\'s loss' },
  ],
  // p has 2e relative error; p - 1 near p = 1 keeps it absolute (2e), one more rounding: the error
  // is <= 3e·|dl|·max(p, 1 - p)... bounded by 4e·|dl|; |dloss| <= 1 in the cases.
  tolerance: { dlogits: { kind: 'close', maxAbs: 4 * E, maxRel: 4 * E } },
  cost: (p) => ({ flops: 4 * p.n * p.v, bytes: 8 * p.n * p.v + 12 * p.n }),
});

// ---------------------------------------------------------------------------------------------
// nn.argmax, nn.sample
// ---------------------------------------------------------------------------------------------

export const argmax = defineKernel({
  id: 'nn.argmax',
  summary: 'Index of the largest value per row; ties to the lowest index; a NaN counts as the largest (as torch.argmax).',
  math: [
    'Per row r < n over x_j = x[r*v + j]: if any x_j is NaN, ids[r] = the lowest such j; otherwise ids[r] = the lowest j',
    'with x_j == max_j x_j (-0 == +0 are equal: a tie). Order-free: any reduction that keeps (value, lowest index) agrees.',
  ].join('\n'),
  params: [u32('n', 'rows'), u32('v', 'values per row (vocabulary V)')],
  derived: {},
  preconditions: [requires.positive('n'), requires.positive('v'), fits('n', 'x (n*v)', (p) => p.n * p.v)],
  bindings: [
    { name: 'x', dtype: 'f32', shape: ['n', 'v'], access: 'read', doc: 'values (logits) [N, V]' },
    { name: 'ids', dtype: 'i32', shape: ['n'], access: 'write', doc: 'index of the maximum per row' },
  ],
  tolerance: { ids: exact },
  cost: (p) => ({ flops: p.n * p.v, bytes: 4 * p.n * p.v + 4 * p.n }),
});

export const sample = defineKernel({
  id: 'nn.sample',
  summary: 'Temperature, top-k and top-p sampling per row from a given uniform number: deterministic given the uniforms.',
  math: [
    'Per row r (x_j = logits[r*v + j], u = uniforms[r] in [0, 1)):',
    '  invalid row (any x_j NaN or +Inf, or every x_j -Inf): ids[r] = -1.',
    '  z_j = f(x_j * inv_temperature)                      (scores / temperature, as a multiply by the f32 reciprocal)',
    '  rank the j by z descending, equal z by lower j first (-0 == +0); k = top_k == 0 ? v : min(top_k, v): the first k',
    '    ranks are kept (exactly k: a tie at the k-th score is broken by index, where transformers would keep all ties).',
    '  e_r = f(exp(f(z_(r) - z_(0)))) for ranks r < k; c_r = f(c_(r-1) + e_r), c_(-1) = +0.0 (a sequential cumulative sum)',
    '  kp = k if top_p >= 1, else the smallest r + 1 with c_r >= f(top_p * c_(k-1)) (top-p: the smallest prefix holding',
    '    top_p of the mass; at least one token); target = f(u * c_(kp-1));',
    '  ids[r] = j of the first rank r < kp with c_r > target (or of rank kp - 1 if none).',
    'Greedy decoding is nn.argmax, not temperature 0. work is scratch: room for one (value, index) pair per logit of each',
    'row for a sort or selection (contents unspecified).',
    'Tolerance exact: ids can differ between runtimes only where target lies within a few ulp (exp\'s error) of a',
    'cumulative boundary; the cases keep every u away from each boundary (conformance/src/fd.test.ts checks this',
    'with exp moved by up to 3 ulp).',
  ].join('\n'),
  params: [
    u32('n', 'rows'),
    u32('v', 'vocabulary V'),
    u32('top_k', 'keep the k best tokens; 0 = all'),
    f32('top_p', 'nucleus mass in (0, 1]; 1 = off'),
    f32('inv_temperature', '1 / temperature (> 0), computed by the caller in f64 and rounded'),
  ],
  derived: { v2: (p: Params) => 2 * p.v },
  preconditions: [
    requires.positive('n'),
    requires.positive('v'),
    { param: 'top_p', requirement: 'top_p in (0, 1]', check: (p) => p.top_p > 0 && p.top_p <= 1 },
    { param: 'inv_temperature', requirement: 'inv_temperature is finite and > 0', check: (p) => Number.isFinite(p.inv_temperature) && p.inv_temperature > 0 },
    fits('n', 'work (2*n*v)', (p) => 2 * p.n * p.v),
  ],
  bindings: [
    { name: 'logits', dtype: 'f32', shape: ['n', 'v'], access: 'read', doc: 'logits [N, V]' },
    { name: 'uniforms', dtype: 'f32', shape: ['n'], access: 'read', doc: 'one uniform number in [0, 1) per row' },
    { name: 'ids', dtype: 'i32', shape: ['n'], access: 'write', doc: 'sampled token per row (-1: invalid row)' },
    { name: 'work', dtype: 'u32', shape: ['n', 'v2'], access: 'readwrite', scratch: true, doc: 'scratch for sorting (value, index) pairs; contents unspecified' },
  ],
  tolerance: { ids: exact },
  cost: (p) => ({ flops: p.n * p.v * (4 + Math.log2(p.v + 1)), bytes: 4 * p.n * p.v + 8 * p.n }),
});

export const NN_KERNELS = [
  embedding,
  embeddingBackward,
  rmsnorm,
  rmsnormBackward,
  rope,
  ropeBackward,
  attention,
  attentionBackward,
  attentionDecode,
  kvAppend,
  swiglu,
  swigluBackward,
  crossEntropy,
  crossEntropyBackward,
  argmax,
  sample,
] as const;
