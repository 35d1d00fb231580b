/**
 * The `quant` family: linear (affine) and group-wise quantization, NF4/FP4 blockwise 4-bit
 * quantization byte-compatible with bitsandbytes, 8-bit blockwise quantization with a 256-entry
 * code (the dynamic map), and the dequantizations, including one that reads double-quantized
 * statistics directly, and the exact widening of bf16/f16 to f32.
 *
 * Glossary: n elements, G group size (linear), blocksize (4-bit and 8-bit blocks).
 * Byte layouts: a `u8` buffer is addressed through little-endian 32-bit words (byte i is bits
 * 8*(i%4)..8*(i%4)+7 of word i/4). Packed 4-bit: byte j = (code[2j] << 4) | code[2j+1] — the even
 * element sits in the high nibble; an odd n leaves a low nibble holding the code of 0.
 */
import { type Cost, defineKernel, type Params, requires } from '../spec';
import { HALF_FORMAT, HALF_TO_F32_MATH } from './linalg';

const ceilDiv = (a: number, b: number) => Math.ceil(a / b);
const blocks = (p: Params) => ceilDiv(p.n, p.blocksize);
const groups = (p: Params) => ceilDiv(p.n, p.group);
const cost = (flopsPerElem: number, bytesPerElem: number, extra = 0) => (p: Params): Cost => ({
  flops: flopsPerElem * p.n,
  bytes: bytesPerElem * p.n + extra,
});

/**
 * A scaled value within this fraction of the code spacing of a decision threshold may round
 * either way on a runtime whose division is approximate (WGSL allows 2.5 ulp; 2^-20 of the spacing
 * is well above that for every code table kvant uses, and small enough that random data puts
 * about one element in a million there).
 */
export const MIDPOINT_EPS = 2 ** -20;
/** At most this many elements of one case may be exempt as ambiguous (the report prints it). */
export const AMBIGUOUS_BUDGET = 8;
const codesTol = (packing: 'byte' | 'nibble') => ({ kind: 'codes', midpointEps: MIDPOINT_EPS, packing, ambiguousBudget: AMBIGUOUS_BUDGET }) as const;

const nParam = { name: 'n', type: 'u32', doc: 'number of elements' } as const;
const blocksizeParam = { name: 'blocksize', type: 'u32', doc: 'elements per absmax block' } as const;

const LINEAR_COMMON = {
  params: [
    nParam,
    { name: 'group', type: 'u32', doc: 'elements per group (n for one scale per tensor)' },
    { name: 'bits', type: 'u32', doc: 'bits per code, 2 to 8' },
    { name: 'symmetric', type: 'u32', doc: '1: symmetric (absmax, zero point 0); 0: asymmetric (min/max)' },
  ],
  derived: { groups },
  preconditions: [
    requires.positive('n'),
    requires.positive('group'),
    requires.inRange('bits', 2, 8),
    requires.oneOf('symmetric', [0, 1]),
  ],
} as const;

export const linearQuantize = defineKernel({
  id: 'quant.linear_quantize',
  summary: 'Affine quantization to n-bit integer codes with one scale and zero point per group of G elements.',
  math: [
    'Per group g of G consecutive elements (the last may be shorter); statistics over finite elements only.',
    'symmetric: amax = max|x|, qmax = 2^(bits-1) - 1, scale = amax / qmax, zero = 0,',
    '           q = clamp(round(x / scale), -qmax, qmax), stored as a two\'s-complement byte.',
    'asymmetric: lo = min(0, min x), hi = max(0, max x), qmax = 2^bits - 1, scale = (hi - lo) / qmax,',
    '           zero = clamp(round(-lo / scale), 0, qmax), q = clamp(round(x / scale) + zero, 0, qmax).',
    'round is round-half-to-even; division is f32. scale == 0 (no nonzero finite element): every code is zero.',
    'x = NaN gives code zero; x = +-Inf gives the extreme code on its side.',
  ].join('\n'),
  ...LINEAR_COMMON,
  bindings: [
    { name: 'x', dtype: 'f32', shape: ['n'], access: 'read', doc: 'values' },
    { name: 'codes', dtype: 'u8', shape: ['n'], access: 'write', doc: 'one code per byte' },
    { name: 'scale', dtype: 'f32', shape: ['groups'], access: 'write', doc: 'scale per group' },
    { name: 'zero', dtype: 'i32', shape: ['groups'], access: 'write', doc: 'zero point per group' },
  ],
  tolerance: {
    codes: codesTol('byte'),
    scale: { kind: 'exact' },
    zero: codesTol('byte'),
  },
  // amax / qmax and (hi - lo) / qmax are divisions: 2.5 ulp in WGSL.
  approximate: { scale: { kind: 'close', maxAbs: 0, maxRel: 2.5 * 2 ** -23 } },
  cost: cost(6, 4 + 1),
});

export const linearDequantize = defineKernel({
  id: 'quant.linear_dequantize',
  summary: 'Inverse of quant.linear_quantize: out = (q - zero) * scale per group.',
  math: [
    'out[i] = f32(q[i] - zero[g]) * scale[g], g = i / group; q is codes[i] read as i8 when symmetric, u8 otherwise.',
    'q - zero is 32-bit integer arithmetic (wrapping), converted to f32 (round to nearest even), then one f32 multiply.',
  ].join('\n'),
  ...LINEAR_COMMON,
  bindings: [
    { name: 'codes', dtype: 'u8', shape: ['n'], access: 'read', doc: 'one code per byte' },
    { name: 'scale', dtype: 'f32', shape: ['groups'], access: 'read', doc: 'scale per group' },
    { name: 'zero', dtype: 'i32', shape: ['groups'], access: 'read', doc: 'zero point per group' },
    { name: 'out', dtype: 'f32', shape: ['n'], access: 'write', doc: 'values' },
  ],
  tolerance: { out: { kind: 'exact', nan: 'any' } },
  cost: cost(2, 1 + 4),
});

const FOUR_BIT_QUANTIZE = {
  params: [nParam, blocksizeParam],
  derived: { blocks, packed_bytes: (p: Params) => ceilDiv(p.n, 2) },
  preconditions: [requires.positive('n'), requires.powerOfTwoIn('blocksize', 32, 4096)],
  bindings: [
    { name: 'x', dtype: 'f32', shape: ['n'], access: 'read', doc: 'values, flat row-major' },
    {
      name: 'packed',
      dtype: 'u8',
      shape: ['packed_bytes'],
      access: 'write',
      doc: 'two codes per byte: byte j = code[2j] << 4 | code[2j+1]',
    },
    { name: 'absmax', dtype: 'f32', shape: ['blocks'], access: 'write', doc: 'max |x| per block (valid elements only)' },
  ],
  tolerance: {
    packed: codesTol('nibble'),
    absmax: { kind: 'exact' },
  },
  cost: cost(8, 4 + 0.5),
} as const;

export const nf4Quantize = defineKernel({
  id: 'quant.nf4_quantize',
  summary: 'Blockwise NF4 quantization, byte-compatible with bitsandbytes quantize_4bit(quant_type="nf4").',
  math: [
    'absmax[b] = max |x| over the valid elements of block b (NaN ignored).',
    's = x * (1 / absmax[b]) in f32; code = number of NF4 midpoints t with s > t (strict, so a midpoint goes to the lower code);',
    'NaN (including 0 * inf from a zero block) gives code 0. Packed two per byte, even element in the high nibble.',
  ].join('\n'),
  ...FOUR_BIT_QUANTIZE,
});

export const fp4Quantize = defineKernel({
  id: 'quant.fp4_quantize',
  summary: 'Blockwise FP4 quantization, byte-compatible with bitsandbytes quantize_4bit(quant_type="fp4").',
  math: [
    'absmax as for NF4; s = x * (1 / absmax[b]); sign bit 8 when s < 0; the low 3 bits are the FP4',
    'magnitude code nearest |s| (midpoints compared strictly, ties to the lower magnitude). NaN gives code 0.',
  ].join('\n'),
  ...FOUR_BIT_QUANTIZE,
});

export const dequantize4bit = defineKernel({
  id: 'quant.dequantize_4bit',
  summary: 'Blockwise 4-bit (NF4 or FP4) dequantization through a 16-entry code table.',
  math: 'out[i] = code[nibble(i)] * absmax[i / blocksize], nibble(i) = packed[i/2] >> 4 for even i, & 15 for odd i.',
  params: [nParam, blocksizeParam],
  derived: { blocks, packed_bytes: (p: Params) => ceilDiv(p.n, 2) },
  preconditions: [requires.positive('n'), requires.powerOfTwoIn('blocksize', 32, 4096)],
  bindings: [
    { name: 'packed', dtype: 'u8', shape: ['packed_bytes'], access: 'read', doc: 'two codes per byte, even element high' },
    { name: 'absmax', dtype: 'f32', shape: ['blocks'], access: 'read', doc: 'absmax per block' },
    { name: 'code', dtype: 'f32', shape: [16], access: 'read', doc: 'the 16 values of the 4-bit type (quant_map)' },
    { name: 'out', dtype: 'f32', shape: ['n'], access: 'write', doc: 'values' },
  ],
  tolerance: { out: { kind: 'exact', nan: 'any' } },
  cost: cost(1, 0.5 + 4),
});

export const dequantize4bitDq = defineKernel({
  id: 'quant.dequantize_4bit_dq',
  summary: 'Blockwise 4-bit dequantization reading double-quantized absmax (8-bit codes + nested absmax + offset).',
  math: [
    'absmax_b = nested_code[qabsmax[b]] * nested_absmax[b / nested_blocksize] + offset (a multiply, then an add; no fma)',
    'out[i] = code[nibble(i)] * absmax_{i / blocksize}',
  ].join('\n'),
  params: [
    nParam,
    blocksizeParam,
    { name: 'nested_blocksize', type: 'u32', doc: 'first-level blocks per nested block (256 in bitsandbytes)' },
    { name: 'offset', type: 'f32', doc: 'mean of the first-level absmax, added back' },
  ],
  derived: {
    blocks,
    packed_bytes: (p: Params) => ceilDiv(p.n, 2),
    nested_blocks: (p: Params) => ceilDiv(blocks(p), p.nested_blocksize),
  },
  preconditions: [
    requires.positive('n'),
    requires.powerOfTwoIn('blocksize', 32, 4096),
    requires.powerOfTwoIn('nested_blocksize', 64, 4096),
    requires.finite('offset'),
  ],
  bindings: [
    { name: 'packed', dtype: 'u8', shape: ['packed_bytes'], access: 'read', doc: 'two codes per byte, even element high' },
    { name: 'qabsmax', dtype: 'u8', shape: ['blocks'], access: 'read', doc: '8-bit code of absmax - offset per block' },
    { name: 'nested_absmax', dtype: 'f32', shape: ['nested_blocks'], access: 'read', doc: 'absmax of (absmax - offset) per nested block' },
    { name: 'nested_code', dtype: 'f32', shape: [256], access: 'read', doc: 'the signed dynamic map' },
    { name: 'code', dtype: 'f32', shape: [16], access: 'read', doc: 'the 16 values of the 4-bit type' },
    { name: 'out', dtype: 'f32', shape: ['n'], access: 'write', doc: 'values' },
  ],
  tolerance: { out: { kind: 'exact', nan: 'any' } },
  cost: cost(3, 0.5 + 4),
});

const BLOCKWISE8_PARAMS = [
  nParam,
  blocksizeParam,
  { name: 'offset', type: 'f32', doc: 'subtracted before quantizing, added back after (0 for plain use)' },
] as const;

export const blockwise8Quantize = defineKernel({
  id: 'quant.blockwise8_quantize',
  summary: '8-bit blockwise quantization to the nearest of 256 sorted code values (the dynamic map), as bitsandbytes quantize_blockwise.',
  math: [
    'v = x - offset; absmax[b] = max |v| over the valid elements of block b (NaN ignored); s = v * (1 / absmax[b]).',
    'q = the index i of the nearest code: with mid_i = (code[i] + code[i+1]) * 0.5 in f32, q = number of i in [0, 254]',
    'with s > mid_i (strict: a midpoint goes to the lower code). NaN gives code 0.',
  ].join('\n'),
  params: BLOCKWISE8_PARAMS,
  derived: { blocks },
  preconditions: [requires.positive('n'), requires.powerOfTwoIn('blocksize', 64, 4096), requires.finite('offset')],
  bindings: [
    { name: 'x', dtype: 'f32', shape: ['n'], access: 'read', doc: 'values' },
    { name: 'code', dtype: 'f32', shape: [256], access: 'read', doc: '256 code values sorted ascending' },
    { name: 'q', dtype: 'u8', shape: ['n'], access: 'write', doc: 'one code per byte' },
    { name: 'absmax', dtype: 'f32', shape: ['blocks'], access: 'write', doc: 'max |x - offset| per block' },
  ],
  tolerance: {
    q: codesTol('byte'),
    absmax: { kind: 'exact' },
  },
  cost: cost(10, 4 + 1),
});

export const blockwise8Dequantize = defineKernel({
  id: 'quant.blockwise8_dequantize',
  summary: 'Inverse of quant.blockwise8_quantize: out = code[q] * absmax[block] + offset.',
  math: 'out[i] = code[q[i]] * absmax[i / blocksize] + offset (a multiply, then an add; no fma)',
  params: BLOCKWISE8_PARAMS,
  derived: { blocks },
  preconditions: [requires.positive('n'), requires.powerOfTwoIn('blocksize', 64, 4096), requires.finite('offset')],
  bindings: [
    { name: 'q', dtype: 'u8', shape: ['n'], access: 'read', doc: 'one code per byte' },
    { name: 'absmax', dtype: 'f32', shape: ['blocks'], access: 'read', doc: 'absmax per block' },
    { name: 'code', dtype: 'f32', shape: [256], access: 'read', doc: '256 code values' },
    { name: 'out', dtype: 'f32', shape: ['n'], access: 'write', doc: 'values' },
  ],
  tolerance: { out: { kind: 'exact', nan: 'any' } },
  cost: cost(2, 1 + 4),
});

export const dequantize16bit = defineKernel({
  id: 'quant.dequantize_16bit',
  summary: 'Widen n bf16 or f16 values (two per u32 word) to f32, exactly: what linalg.matmul_16bit multiplies by.',
  math: [...HALF_TO_F32_MATH, 'out[e] = wide(h(e)) for e < n. No arithmetic touches a NaN, so its bits are kept too.'].join('\n'),
  params: [nParam, { name: 'format', type: 'u32', doc: '0: bf16; 1: f16 (IEEE binary16)' }],
  derived: { words: (p: Params) => ceilDiv(p.n, 2) },
  preconditions: [requires.positive('n'), requires.oneOf('format', [HALF_FORMAT.bf16, HALF_FORMAT.f16])],
  bindings: [
    { name: 'w', dtype: 'u32', shape: ['words'], access: 'read', doc: 'element e in bits 16*(e%2).. of word e/2' },
    { name: 'out', dtype: 'f32', shape: ['n'], access: 'write', doc: 'the values as f32' },
  ],
  tolerance: { out: { kind: 'exact' } },
  cost: cost(0, 2 + 4),
});

export const QUANT_KERNELS = [
  linearQuantize,
  linearDequantize,
  nf4Quantize,
  fp4Quantize,
  dequantize4bit,
  dequantize4bitDq,
  blockwise8Quantize,
  blockwise8Dequantize,
  dequantize16bit,
] as const;
