/**
 * The `linalg` family: dense, 4-bit and 16-bit-weight matmul, reductions, element-wise arithmetic, dropout and a
 * peak-rate kernel. Everything the LoRA layer, the model and the trainer compute goes through it.
 *
 * Glossary: M tokens (rows), K in-features, N out-features; a linear weight is [N, K] row-major.
 *
 * Numerics: every kernel here is `exact` — each runtime computes the same f32 operations in the
 * same order, so results agree bit for bit. In the math text `f(...)` is one f32 operation rounded
 * to nearest even; there is no fused multiply-add anywhere (a multiply is rounded, then the add is
 * rounded), and no reassociation. f32 addition and multiplication are commutative in IEEE
 * arithmetic, so only the sequence of operations matters, not the operand order within one.
 * Subnormals are kept (no flush to zero). A runtime that cannot meet this for a kernel declares it
 * in `RuntimeInfo.approximate` and is held to the kernel's `approximate` tolerances, if any.
 */
import { type Cost, defineKernel, type Params, type Precondition, requires } from '../spec';

const ceilDiv = (a: number, b: number) => Math.ceil(a / b);
/** Largest element count of one binding: indices fit i32, so u32 index math never overflows. */
const MAX_ELEMENTS = 2 ** 31 - 1;

const u32 = (name: string, doc: string) => ({ name, type: 'u32', doc }) as const;
const f32 = (name: string, doc: string) => ({ name, type: 'f32', doc }) as const;

const fitsIndex = (param: string, what: string, size: (p: Params) => number): Precondition => ({
  param,
  requirement: `${what} has fewer than 2^31 elements`,
  check: (p) => size(p) <= MAX_ELEMENTS,
});

// ---------------------------------------------------------------------------------------------
// linalg.matmul
// ---------------------------------------------------------------------------------------------

const aLen = (p: Params) => (p.batch - 1) * p.stride_a + p.m * p.k;
const bLen = (p: Params) => (p.batch - 1) * p.stride_b + p.k * p.n;
const cLen = (p: Params) => (p.batch - 1) * p.stride_c + p.m * p.n;

export const matmul = defineKernel({
  id: 'linalg.matmul',
  summary: 'Batched C = alpha·op(A)·op(B) + beta·C, op = identity or transpose per operand, f32, fixed summation order.',
  math: [
    'For t = 0..batch-1, i = 0..m-1, j = 0..n-1 (op(A) is m x k, op(B) is k x n, C is m x n row-major):',
    '  opA(kk) = trans_a == 0 ? a[t*stride_a + i*k + kk] : a[t*stride_a + kk*m + i]   (A stored [m,k] or [k,m])',
    '  opB(kk) = trans_b == 0 ? b[t*stride_b + kk*n + j] : b[t*stride_b + j*k + kk]   (B stored [k,n] or [n,k])',
    '  acc = +0.0; for kk = 0, 1, ..., k-1 in this order: acc = f(acc + f(opA(kk) * opB(kk)))',
    '  ci = t*stride_c + i*n + j',
    '  beta == 0: c[ci] = f(alpha * acc)            -- the old c[ci] is NOT read (NaN/Inf in C do not leak)',
    '  beta != 0: c[ci] = f(f(alpha * acc) + f(beta * c[ci]))',
    'alpha == 1 still multiplies (f(1 * acc) == acc bit for bit). A stride of 0 broadcasts that operand to every',
    'batch (stride_c == 0 only with batch == 1). Every output element is one sequential sum over kk: tiles over k',
    'are fine when each output walks k in order; split-k, tree sums and fma are not.',
    'A linear layer: forward y = x·Wᵀ is (a=x [M,K], b=W [N,K], trans_b=1); input gradient dx = dy·W is',
    '(a=dy [M,N], b=W [N,K], trans_b=0, k=N); weight gradient dW = dyᵀ·x is (a=dy [M,N], trans_a=1, b=x [M,K], k=M).',
  ].join('\n'),
  params: [
    u32('m', 'rows of op(A) and C'),
    u32('n', 'columns of op(B) and C'),
    u32('k', 'columns of op(A) = rows of op(B): the summed dimension'),
    u32('trans_a', '0: A stored [m, k]; 1: A stored [k, m] (op(A) = Aᵀ)'),
    u32('trans_b', '0: B stored [k, n]; 1: B stored [n, k] (op(B) = Bᵀ)'),
    u32('batch', 'number of independent matrix products'),
    u32('stride_a', 'elements between consecutive A matrices (0: one A for every batch)'),
    u32('stride_b', 'elements between consecutive B matrices (0: one B for every batch)'),
    u32('stride_c', 'elements between consecutive C matrices (>= m*n unless batch == 1)'),
    f32('alpha', 'scale of op(A)·op(B)'),
    f32('beta', 'scale of the old C; 0 means C is write-only'),
  ],
  derived: { a_len: aLen, b_len: bLen, c_len: cLen },
  preconditions: [
    requires.positive('m'),
    requires.positive('n'),
    requires.positive('k'),
    requires.oneOf('trans_a', [0, 1]),
    requires.oneOf('trans_b', [0, 1]),
    requires.positive('batch'),
    { param: 'stride_a', requirement: 'stride_a == 0 or stride_a >= m*k', check: (p) => p.stride_a === 0 || p.stride_a >= p.m * p.k },
    { param: 'stride_b', requirement: 'stride_b == 0 or stride_b >= k*n', check: (p) => p.stride_b === 0 || p.stride_b >= p.k * p.n },
    { param: 'stride_c', requirement: 'stride_c >= m*n unless batch == 1', check: (p) => p.batch === 1 || p.stride_c >= p.m * p.n },
    requires.finite('alpha'),
    requires.finite('beta'),
    fitsIndex('stride_a', 'a', aLen),
    fitsIndex('stride_b', 'b', bLen),
    fitsIndex('stride_c', 'c', cLen),
  ],
  bindings: [
    { name: 'a', dtype: 'f32', shape: ['a_len'], access: 'read', doc: 'batch matrices A, row-major, [m, k] (trans_a=0) or [k, m] (trans_a=1)' },
    { name: 'b', dtype: 'f32', shape: ['b_len'], access: 'read', doc: 'batch matrices B, row-major, [k, n] (trans_b=0) or [n, k] (trans_b=1)' },
    { name: 'c', dtype: 'f32', shape: ['c_len'], access: 'readwrite', doc: 'batch matrices C [m, n], row-major; read only when beta != 0' },
  ],
  tolerance: { c: { kind: 'exact' } },
  cost: (p): Cost => ({
    flops: 2 * p.m * p.n * p.k * p.batch,
    bytes: 4 * ((p.stride_a === 0 ? 1 : p.batch) * p.m * p.k + (p.stride_b === 0 ? 1 : p.batch) * p.k * p.n + (p.beta === 0 ? 1 : 2) * p.batch * p.m * p.n),
  }),
});

// ---------------------------------------------------------------------------------------------
// linalg.matmul_4bit, linalg.matmul_4bit_dq
// ---------------------------------------------------------------------------------------------

const weights = (p: Params) => p.n * p.k;
const wBlocks = (p: Params) => ceilDiv(weights(p), p.blocksize);
const xLen = (p: Params) => p.m * (p.trans === 0 ? p.k : p.n);
const yLen = (p: Params) => p.m * (p.trans === 0 ? p.n : p.k);

const MATMUL_4BIT_MATH = [
  'W is logical [n, k] (N out-features x K in-features), 4-bit in bitsandbytes\' layout, flat row-major:',
  '  e = r*k + c (r < n, c < k); nib(e) = packed[e/2] >> 4 for even e, packed[e/2] & 15 for odd e;',
  '  deq(W)[r,c] = f(code[nib(e)] * absmax_of(e / blocksize))   -- exactly what quant.dequantize_4bit(_dq) writes',
  'Blocks run over the flat index, so a block may span rows (k need not be a multiple of blocksize).',
  'trans == 0 (forward, x [m,k] -> y [m,n]):   for i < m, r < n: acc = +0.0; for c = 0..k-1 in order:',
  '      acc = f(acc + f(x[i*k + c] * deq(W)[r,c]))',
  'trans == 1 (input gradient, x = dy [m,n] -> y = dx [m,k]):   for i < m, c < k: acc = +0.0; for r = 0..n-1 in order:',
  '      acc = f(acc + f(x[i*n + r] * deq(W)[r,c]))',
  'Output (ny = n for trans 0, k for trans 1): beta == 0: y[i*ny + j] = acc (the old y is NOT read);',
  '  beta != 0: y[i*ny + j] = f(acc + f(beta * y[i*ny + j])). There is no alpha.',
  'So the result is bit-identical to quant.dequantize_4bit followed by linalg.matmul (a = x, b = deq(W),',
  'trans_a = 0, trans_b = 1 - trans, alpha = 1, the same beta, batch = 1).',
  'W is dequantized tile by tile inside the kernel (registers or shared memory); a full f32 copy of W never exists.',
];

const MATMUL_4BIT_PARAMS = [
  u32('m', 'rows of x and y (tokens)'),
  u32('n', 'rows of W: out-features N'),
  u32('k', 'columns of W: in-features K'),
  u32('trans', '0: y[m, n] = x[m, k]·deq(W)ᵀ (forward); 1: y[m, k] = x[m, n]·deq(W) (input gradient)'),
  f32('beta', 'scale of the old y; 0 means y is write-only'),
  u32('blocksize', 'weights per absmax block (flat index)'),
] as const;

const MATMUL_4BIT_PRECONDITIONS: Precondition[] = [
  requires.positive('m'),
  requires.positive('n'),
  requires.positive('k'),
  requires.oneOf('trans', [0, 1]),
  requires.finite('beta'),
  requires.powerOfTwoIn('blocksize', 32, 4096),
  fitsIndex('n', 'W (n*k)', weights),
  fitsIndex('m', 'x and y', (p) => Math.max(p.m * p.k, p.m * p.n)),
];

const matmul4bitCost = (extraFlopsPerWeight: number, statBytes: (p: Params) => number) => (p: Params): Cost => ({
  flops: 2 * p.m * p.n * p.k + extraFlopsPerWeight * p.n * p.k,
  bytes: 4 * xLen(p) + ceilDiv(weights(p), 2) + statBytes(p) + 64 + (p.beta === 0 ? 4 : 8) * yLen(p),
});

const xBinding = { name: 'x', dtype: 'f32', shape: ['x_len'], access: 'read', doc: 'activations [m, k] (trans 0) or output gradient [m, n] (trans 1), row-major' } as const;
const yBinding = { name: 'y', dtype: 'f32', shape: ['y_len'], access: 'readwrite', doc: 'output [m, n] (trans 0) or input gradient [m, k] (trans 1); read only when beta != 0' } as const;
const packedBinding = { name: 'packed', dtype: 'u8', shape: ['packed_bytes'], access: 'read', doc: 'W codes, two per byte over the flat index, even element high' } as const;
const codeBinding = { name: 'code', dtype: 'f32', shape: [16], access: 'read', doc: 'the 16 values of the 4-bit type (NF4 or FP4 quant_map)' } as const;

export const matmul4bit = defineKernel({
  id: 'linalg.matmul_4bit',
  summary: 'QLoRA frozen base: y = x·deq(W)ᵀ or dx = dy·deq(W), W NF4/FP4 [N, K] with f32 absmax, dequantized on the fly.',
  math: [...MATMUL_4BIT_MATH, 'absmax_of(b) = absmax[b].'].join('\n'),
  params: MATMUL_4BIT_PARAMS,
  derived: { x_len: xLen, y_len: yLen, packed_bytes: (p: Params) => ceilDiv(weights(p), 2), blocks: wBlocks },
  preconditions: MATMUL_4BIT_PRECONDITIONS,
  bindings: [
    xBinding,
    packedBinding,
    { name: 'absmax', dtype: 'f32', shape: ['blocks'], access: 'read', doc: 'absmax per block of W' },
    codeBinding,
    yBinding,
  ],
  tolerance: { y: { kind: 'exact' } },
  cost: matmul4bitCost(1, (p) => 4 * wBlocks(p)),
});

export const matmul4bitDq = defineKernel({
  id: 'linalg.matmul_4bit_dq',
  summary: 'linalg.matmul_4bit reading double-quantized absmax (8-bit codes, nested absmax, offset) directly.',
  math: [
    ...MATMUL_4BIT_MATH,
    'absmax_of(b) = f(f(nested_code[qabsmax[b]] * nested_absmax[b / nested_blocksize]) + offset)',
    '  -- exactly as quant.dequantize_4bit_dq computes it (a multiply, then an add).',
  ].join('\n'),
  params: [
    ...MATMUL_4BIT_PARAMS,
    u32('nested_blocksize', 'first-level blocks per nested block (256 in bitsandbytes)'),
    f32('offset', 'mean of the first-level absmax, added back'),
  ],
  derived: {
    x_len: xLen,
    y_len: yLen,
    packed_bytes: (p: Params) => ceilDiv(weights(p), 2),
    blocks: wBlocks,
    nested_blocks: (p: Params) => ceilDiv(wBlocks(p), p.nested_blocksize),
  },
  preconditions: [...MATMUL_4BIT_PRECONDITIONS, requires.powerOfTwoIn('nested_blocksize', 64, 4096), requires.finite('offset')],
  bindings: [
    xBinding,
    packedBinding,
    { name: 'qabsmax', dtype: 'u8', shape: ['blocks'], access: 'read', doc: '8-bit code of absmax - offset per block' },
    { name: 'nested_absmax', dtype: 'f32', shape: ['nested_blocks'], access: 'read', doc: 'absmax of (absmax - offset) per nested block' },
    { name: 'nested_code', dtype: 'f32', shape: [256], access: 'read', doc: 'the signed dynamic map' },
    codeBinding,
    yBinding,
  ],
  tolerance: { y: { kind: 'exact' } },
  cost: matmul4bitCost(3, (p) => wBlocks(p) + 4 * ceilDiv(wBlocks(p), p.nested_blocksize) + 1024),
});

// ---------------------------------------------------------------------------------------------
// linalg.matmul_16bit
// ---------------------------------------------------------------------------------------------

/** Values of the `format` param of linalg.matmul_16bit and quant.dequantize_16bit. */
export const HALF_FORMAT = { bf16: 0, f16: 1 } as const;
export type HalfFormat = keyof typeof HALF_FORMAT;

/** How a 16-bit element becomes f32 (shared by linalg.matmul_16bit and quant.dequantize_16bit). */
export const HALF_TO_F32_MATH = [
  'Element e of a 16-bit buffer is h(e) = (w[e / 2] >> (16 * (e % 2))) & 0xffff (a little-endian u16 array in u32 words).',
  'wide(h) is exact (every bf16 and f16 value is an f32 value); no rounding, no flush to zero:',
  '  format 0 (bf16): bits(wide(h)) = h << 16   (NaN payloads and signalling NaNs kept bit for bit)',
  '  format 1 (f16): s = h >> 15, ex = (h >> 10) & 31, mt = h & 1023;',
  '    ex == 0:  wide = (-1)^s * mt * 2^-24       (+-0 for mt == 0; an f16 subnormal is a normal f32)',
  '    ex == 31: bits = s << 31 | 0x7f800000 | mt << 13   (+-inf for mt == 0, else NaN with the payload shifted up)',
  '    else:     bits = s << 31 | (ex + 112) << 23 | mt << 13',
];

const halfWords = (p: Params) => ceilDiv(weights(p), 2);

export const matmul16bit = defineKernel({
  id: 'linalg.matmul_16bit',
  summary: 'Frozen dense base in bf16 or f16: y = x·wide(W)ᵀ or dx = dy·wide(W), W [N, K] 16-bit, widened to f32 exactly, tile by tile.',
  math: [
    'W is logical [n, k] (N out-features x K in-features), flat row-major, 16 bits per element: e = r*k + c (r < n, c < k).',
    ...HALF_TO_F32_MATH,
    'trans == 0 (forward, x [m,k] -> y [m,n]):   for i < m, r < n: acc = +0.0; for c = 0..k-1 in order:',
    '      acc = f(acc + f(x[i*k + c] * wide(h(r*k + c))))',
    'trans == 1 (input gradient, x = dy [m,n] -> y = dx [m,k]):   for i < m, c < k: acc = +0.0; for r = 0..n-1 in order:',
    '      acc = f(acc + f(x[i*n + r] * wide(h(r*k + c))))',
    'Output (ny = n for trans 0, k for trans 1): beta == 0: y[i*ny + j] = acc (the old y is NOT read);',
    '  beta != 0: y[i*ny + j] = f(acc + f(beta * y[i*ny + j])). There is no alpha.',
    'So the result is bit-identical (NaN payloads aside) to quant.dequantize_16bit followed by linalg.matmul (a = x,',
    'b = wide(W), trans_a = 0, trans_b = 1 - trans, alpha = 1, the same beta, batch = 1): the same f32 operations in the same order.',
    'W is widened tile by tile inside the kernel (registers or shared memory); a full f32 copy of W never exists.',
  ].join('\n'),
  params: [
    u32('m', 'rows of x and y (tokens)'),
    u32('n', 'rows of W: out-features N'),
    u32('k', 'columns of W: in-features K'),
    u32('trans', '0: y[m, n] = x[m, k]·wide(W)ᵀ (forward); 1: y[m, k] = x[m, n]·wide(W) (input gradient)'),
    f32('beta', 'scale of the old y; 0 means y is write-only'),
    u32('format', '0: W is bf16; 1: W is f16 (IEEE binary16)'),
  ],
  derived: { x_len: xLen, y_len: yLen, w_words: halfWords },
  preconditions: [
    requires.positive('m'),
    requires.positive('n'),
    requires.positive('k'),
    requires.oneOf('trans', [0, 1]),
    requires.finite('beta'),
    requires.oneOf('format', [HALF_FORMAT.bf16, HALF_FORMAT.f16]),
    fitsIndex('n', 'W (n*k)', weights),
    fitsIndex('m', 'x and y', (p) => Math.max(p.m * p.k, p.m * p.n)),
  ],
  bindings: [
    xBinding,
    { name: 'w', dtype: 'u32', shape: ['w_words'], access: 'read', doc: 'W as 16-bit elements, two per u32 word, element e in bits 16*(e%2).. of word e/2 (the high half of the last word of an odd n*k is unused)' },
    yBinding,
  ],
  // NaN payloads: an f16/bf16 NaN keeps its payload when widened, and what a NaN product or sum
  // carries is left open by IEEE (GPUs return a canonical NaN); every other bit is exact.
  tolerance: { y: { kind: 'exact', nan: 'any' } },
  cost: (p): Cost => ({
    flops: 2 * p.m * p.n * p.k,
    bytes: 4 * xLen(p) + 2 * weights(p) + (p.beta === 0 ? 4 : 8) * yLen(p),
  }),
});

// ---------------------------------------------------------------------------------------------
// Reductions: linalg.sum_squares, linalg.sum
// ---------------------------------------------------------------------------------------------

/** Fan-in of every level of the reduction tree. */
export const REDUCE_FAN_IN = 256;

/** Partials at every level of the tree for n elements (level 0 has ceil(n/256), the last has 1). */
export function reducePartials(n: number): number {
  let total = 0;
  let len = n;
  do {
    len = ceilDiv(len, REDUCE_FAN_IN);
    total += len;
  } while (len > 1);
  return total;
}

const reduceMath = (term: string) =>
  [
    `Level 0: for chunk c = 0..ceil(n/256)-1: p0[c] = acc over x[256c .. min(n, 256c+256)) in order, acc = +0.0, acc = f(acc + ${term}).`,
    'Level l+1: for chunk c of 256 consecutive level-l partials: p(l+1)[c] = acc over p(l)[256c .. min(len_l, 256c+256)) in order,',
    '  acc = +0.0, acc = f(acc + p(l)[j]). Repeat until a level has one value: total. (n <= 256: total = p0[0].)',
    'accumulate == 0: out[0] = total; accumulate == 1: out[0] = f(out[0] + total) (several tensors into one device scalar).',
    'The tree is fixed by n alone: any thread count, workgroup size or number of passes gives the same bits.',
    'partials is scratch of sum_l ceil(n/256^(l+1)) floats (room for every level; the natural layout is level 0, then',
    'level 1, ...). Its contents on entry and on exit are unspecified: a kernel must not depend on them.',
  ].join('\n');

const reduceKernel = (id: string, summary: string, term: string, flopsPerElem: number) =>
  defineKernel({
    id,
    summary,
    math: reduceMath(term),
    params: [u32('n', 'number of elements'), u32('accumulate', '0: out = total; 1: out = out + total')],
    derived: { partials_len: (p: Params) => reducePartials(p.n) },
    preconditions: [requires.positive('n'), requires.oneOf('accumulate', [0, 1])],
    bindings: [
      { name: 'x', dtype: 'f32', shape: ['n'], access: 'read', doc: 'values' },
      { name: 'partials', dtype: 'f32', shape: ['partials_len'], access: 'readwrite', scratch: true, doc: 'scratch for the partial sums; contents unspecified' },
      { name: 'out', dtype: 'f32', shape: [1], access: 'readwrite', doc: 'the total (read only when accumulate == 1)' },
    ],
    tolerance: { out: { kind: 'exact' } },
    cost: (p) => ({ flops: flopsPerElem * p.n, bytes: 4 * p.n + 8 }),
  });

export const sumSquares = reduceKernel(
  'linalg.sum_squares',
  'Sum of squares of n f32 values by a fixed 256-ary tree, optionally added to a device scalar (global grad norm).',
  'f(x[i] * x[i])',
  2,
);

export const linalgSum = reduceKernel('linalg.sum', 'Sum of n f32 values by a fixed 256-ary tree, optionally added to a device scalar.', 'x[i]', 1);

// ---------------------------------------------------------------------------------------------
// Element-wise: linalg.add, linalg.scale, linalg.axpy
// ---------------------------------------------------------------------------------------------

const nParam = u32('n', 'number of elements');
const xRead = { name: 'x', dtype: 'f32', shape: ['n'], access: 'read', doc: 'values' } as const;

export const linalgAdd = defineKernel({
  id: 'linalg.add',
  summary: 'Element-wise c = a + b.',
  math: 'c[i] = f(a[i] + b[i]) for i < n',
  params: [nParam],
  derived: {},
  preconditions: [requires.positive('n')],
  bindings: [
    { name: 'a', dtype: 'f32', shape: ['n'], access: 'read', doc: 'values' },
    { name: 'b', dtype: 'f32', shape: ['n'], access: 'read', doc: 'values' },
    { name: 'c', dtype: 'f32', shape: ['n'], access: 'write', doc: 'sums' },
  ],
  tolerance: { c: { kind: 'exact' } },
  cost: (p) => ({ flops: p.n, bytes: 12 * p.n }),
});

export const linalgScale = defineKernel({
  id: 'linalg.scale',
  summary: 'Element-wise y = alpha·x (out of place).',
  math: 'y[i] = f(alpha * x[i]) for i < n (alpha == 1 still multiplies: y is a bit copy of x, NaN payloads aside)',
  params: [nParam, f32('alpha', 'the factor')],
  derived: {},
  preconditions: [requires.positive('n'), requires.finite('alpha')],
  bindings: [xRead, { name: 'y', dtype: 'f32', shape: ['n'], access: 'write', doc: 'alpha times x' }],
  tolerance: { y: { kind: 'exact' } },
  cost: (p) => ({ flops: p.n, bytes: 8 * p.n }),
});

export const axpy = defineKernel({
  id: 'linalg.axpy',
  summary: 'Element-wise y = alpha·x + y (in place on y).',
  math: 'y[i] = f(f(alpha * x[i]) + y[i]) for i < n (a multiply, then an add; no fma)',
  params: [nParam, f32('alpha', 'the factor of x')],
  derived: {},
  preconditions: [requires.positive('n'), requires.finite('alpha')],
  bindings: [xRead, { name: 'y', dtype: 'f32', shape: ['n'], access: 'readwrite', doc: 'accumulated into' }],
  tolerance: { y: { kind: 'exact' } },
  cost: (p) => ({ flops: 2 * p.n, bytes: 12 * p.n }),
});

// ---------------------------------------------------------------------------------------------
// linalg.dropout
// ---------------------------------------------------------------------------------------------

/** Philox 4x32-10 constants (Salmon et al., SC'11; Random123). */
export const PHILOX = { M0: 0xd2511f53, M1: 0xcd9e8d57, W0: 0x9e3779b9, W1: 0xbb67ae85, ROUNDS: 10 } as const;

export const dropout = defineKernel({
  id: 'linalg.dropout',
  summary: 'Inverted dropout with a Philox 4x32-10 counter-based mask: the same bits on every runtime for a seed and offset.',
  math: [
    'Block q = floor(i / 4) of element i draws Philox4x32-10 with key (k0, k1) = (seed_lo, seed_hi) and',
    'counter (c0, c1, c2, c3) = (q, 0, offset_lo, offset_hi); element i takes output word i % 4. All u32, wrapping.',
    'One round: (hi0, lo0) = 0xD2511F53 * c0 and (hi1, lo1) = 0xCD9E8D57 * c2 as full 32x32 -> 64-bit products;',
    '  (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0). Ten rounds; before rounds 2..10 the key is',
    '  bumped: k0 += 0x9E3779B9, k1 += 0xBB67AE85. The output is the counter after round 10 (Random123 philox4x32_10).',
    'keep = u >= threshold (unsigned compare). y[i] = keep ? f(x[i] * scale) : +0.0 (a dropped element is +0.0,',
    'bits 0x00000000, whatever x[i] is, NaN included).',
    'The caller sets threshold = min(2^32 - 1, round(p * 2^32)) and scale = f32(1 / (1 - p)) for drop probability p',
    '(p = 0: threshold 0 keeps everything). offset is a 64-bit call counter: a fresh value for every forward draw',
    '(e.g. a running count of dropout calls); draws of one call never overlap another\'s since n < 2^34.',
    'Backward: the same kernel on dy with the same seed, offset, threshold and scale gives dx (the same mask).',
  ].join('\n'),
  params: [
    nParam,
    u32('seed_lo', 'Philox key word 0'),
    u32('seed_hi', 'Philox key word 1'),
    u32('offset_lo', 'counter word 2: low half of the 64-bit call counter'),
    u32('offset_hi', 'counter word 3: high half of the 64-bit call counter'),
    u32('threshold', 'drop when the 32-bit draw is below it: round(p * 2^32), clamped to 2^32 - 1'),
    f32('scale', 'factor for kept elements: 1 / (1 - p)'),
  ],
  derived: {},
  preconditions: [requires.positive('n'), requires.finite('scale')],
  bindings: [xRead, { name: 'y', dtype: 'f32', shape: ['n'], access: 'write', doc: 'x with dropped elements zeroed, kept ones scaled' }],
  tolerance: { y: { kind: 'exact' } },
  cost: (p) => ({ flops: p.n * (1 + (PHILOX.ROUNDS * 6) / 4), bytes: 8 * p.n }),
});

// ---------------------------------------------------------------------------------------------
// linalg.peak_flops
// ---------------------------------------------------------------------------------------------

/** Independent accumulators per work item of linalg.peak_flops. */
export const PEAK_ACCUMULATORS = 8;

export const peakFlops = defineKernel({
  id: 'linalg.peak_flops',
  summary: 'Peak multiply-add rate: register-only chains on 8 independent accumulators per work item.',
  math: [
    'For each work item t < threads: a_j = (j + 1) / 16 + (t mod 256) / 4096 for j = 0..7 (exact in f32);',
    'iters times: for j = 0..7: a_j = f(f(a_j * x) + y)  (a multiply, then an add: no fma, matching the other kernels);',
    'out[t] = f(f(f(f(f(f(f(a_0 + a_1) + a_2) + a_3) + a_4) + a_5) + a_6) + a_7).',
    'With |x| < 1 the chains converge to y / (1 - x) and stay finite for any iters (the cases use x = 0.999, y = 0.001).',
    'x and y are params so no compiler can fold the loop. Benchmarks time large threads * iters and divide each',
    'kernel\'s GFLOP/s by this one\'s: a fraction of the runtime\'s measured multiply-add peak.',
  ].join('\n'),
  params: [u32('threads', 'work items (one output each)'), u32('iters', 'iterations of the 8-chain loop'), f32('x', 'multiplier'), f32('y', 'addend')],
  derived: {},
  preconditions: [requires.positive('threads'), requires.finite('x'), requires.finite('y')],
  bindings: [{ name: 'out', dtype: 'f32', shape: ['threads'], access: 'write', doc: 'the sum of the accumulators per work item' }],
  tolerance: { out: { kind: 'exact' } },
  cost: (p) => ({ flops: 2 * PEAK_ACCUMULATORS * p.iters * p.threads, bytes: 4 * p.threads }),
});

export const LINALG_KERNELS = [matmul, matmul4bit, matmul4bitDq, matmul16bit, sumSquares, linalgSum, linalgAdd, linalgScale, axpy, dropout, peakFlops] as const;
