// Shared pieces of the 4-bit (NF4 / FP4) kernels: code selection, nibble packing, and the
// 16-element SIMD table lookup of dequantization.
//
// Packed layout: byte j = code[2j] << 4 | code[2j+1] (the even element in the high nibble).

import { FP4_MAGNITUDE_CODES, FP4_MAGNITUDE_LANES, FP4_THRESHOLDS, fp4Rank, NF4_THRESHOLDS, nf4Rank } from '../generated/tables';
import { absmaxOf, blockEnd } from './absmax';

export const KIND_NF4: i32 = 0;
export const KIND_FP4: i32 = 1;

/** NF4 code of a scaled value: the number of thresholds t with s > t (NaN -> 0). */
export function nf4Code(s: f32): u32 {
  let c: u32 = 0;
  for (let k = 0; k < NF4_THRESHOLDS.length; k++) c += u32(s > unchecked(NF4_THRESHOLDS[k]));
  return c;
}

/** FP4 code of a scaled value: sign bit 8 for s < 0, 3-bit magnitude code (NaN -> 0). */
export function fp4Code(s: f32): u32 {
  if (isNaN(s)) return 0;
  const a = Mathf.abs(s);
  let rank = 0;
  for (let k = 0; k < FP4_THRESHOLDS.length; k++) rank += i32(a > unchecked(FP4_THRESHOLDS[k]));
  return (s < 0 ? 8 : 0) | u32(unchecked(FP4_MAGNITUDE_CODES[rank]));
}

// @ts-ignore: decorator
@inline
function codeOf(kind: i32, s: f32): u32 {
  return kind == KIND_NF4 ? nf4Code(s) : fp4Code(s);
}

/**
 * Codes of 16 scaled values at `x` (times `inv`), one per byte lane 0..15.
 * NF4: count of the 15 thresholds below s, 4 lanes at a time (generated, unrolled nf4Rank).
 * FP4: count over |s| gives the magnitude rank, an i8x16.swizzle maps rank -> 3-bit code, and the
 * sign mask adds 8. NaN compares false everywhere: code 0 in both.
 */
// @ts-ignore: decorator
@inline
function codes16(kind: i32, x: usize, inv: v128): v128 {
  const s0 = f32x4.mul(v128.load(x), inv);
  const s1 = f32x4.mul(v128.load(x, 16), inv);
  const s2 = f32x4.mul(v128.load(x, 32), inv);
  const s3 = f32x4.mul(v128.load(x, 48), inv);
  const a0 = kind == KIND_NF4 ? s0 : f32x4.abs(s0);
  const a1 = kind == KIND_NF4 ? s1 : f32x4.abs(s1);
  const a2 = kind == KIND_NF4 ? s2 : f32x4.abs(s2);
  const a3 = kind == KIND_NF4 ? s3 : f32x4.abs(s3);
  const c0 = kind == KIND_NF4 ? nf4Rank(a0) : fp4Rank(a0);
  const c1 = kind == KIND_NF4 ? nf4Rank(a1) : fp4Rank(a1);
  const c2 = kind == KIND_NF4 ? nf4Rank(a2) : fp4Rank(a2);
  const c3 = kind == KIND_NF4 ? nf4Rank(a3) : fp4Rank(a3);
  const counts = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(c0, c1), i16x8.narrow_i32x4_s(c2, c3));
  if (kind == KIND_NF4) return counts;
  const zero = f32x4.splat(0);
  const neg = i8x16.narrow_i16x8_s(
    i16x8.narrow_i32x4_s(f32x4.lt(s0, zero), f32x4.lt(s1, zero)),
    i16x8.narrow_i32x4_s(f32x4.lt(s2, zero), f32x4.lt(s3, zero)),
  );
  const mag = i8x16.swizzle(v128.load(FP4_MAGNITUDE_LANES), counts);
  return v128.or(mag, v128.and(neg, i8x16.splat(8)));
}

/** Pack 16 codes (byte lanes) into 8 bytes at `dst`: byte j = code[2j] << 4 | code[2j+1]. */
// @ts-ignore: decorator
@inline
function pack16(dst: usize, codes: v128): void {
  // As 16-bit lanes, lane j = code[2j] | code[2j+1] << 8 (little endian).
  const hi = v128.and(i16x8.shl(codes, 4), i16x8.splat(0xf0));
  const lo = i16x8.shr_u(codes, 8);
  const bytes = i8x16.narrow_i16x8_u(v128.or(hi, lo), v128.or(hi, lo));
  v128.store64_lane(dst, bytes, 0);
}

/** Set the nibble of element i; an even i clears the low nibble (its odd partner comes next). */
// @ts-ignore: decorator
@inline
function setNibble(packed: usize, i: usize, c: u32): void {
  const p = packed + (i >> 1);
  if (i & 1) store<u8>(p, load<u8>(p) | u8(c));
  else store<u8>(p, u8(c << 4));
}

/**
 * Blockwise 4-bit quantization (NF4 or FP4, fixed at each inlined call site).
 * x f32[n] -> packed u8[ceil(n/2)], absmax f32[ceil(n/blocksize)].
 * Per block: absmax over the valid elements, inv = 1 / absmax in f32, s = x * inv, code of s;
 * 16 elements at a time (a block start is a multiple of 32, so chunks never straddle blocks),
 * the block's tail one at a time.
 */
// @ts-ignore: decorator
@inline
export function quantize4bit(kind: i32, n: usize, blocksize: usize, x: usize, packed: usize, absmax: usize): void {
  for (let start: usize = 0, blk: usize = 0; start < n; start += blocksize, blk++) {
    const end = blockEnd(start, blocksize, n);
    const amax = absmaxOf(x, start, end, 0);
    store<f32>(absmax + (blk << 2), amax);
    const inv: f32 = 1 / amax; // 1/0 = inf; 0 * inf = NaN -> code 0, as bitsandbytes
    const vinv = f32x4.splat(inv);
    let i = start;
    for (; i + 16 <= end; i += 16) pack16(packed + (i >> 1), codes16(kind, x + (i << 2), vinv));
    for (; i < end; i++) setNibble(packed, i, codeOf(kind, load<f32>(x + (i << 2)) * inv));
  }
  // An odd n leaves the last low nibble: the code of 0.
  if (n & 1) setNibble(packed, n, codeOf(kind, 0));
}

const planeScratch = memory.data(64, 16);

/**
 * Lay the 16-entry f32 code table out as four byte planes: plane k, lane j = byte k of code[j].
 * With them an i8x16.swizzle per plane looks up 16 codes at once (wasm has no 32-bit gather).
 */
export function buildPlanes(code: usize): void {
  for (let j: usize = 0; j < 16; j++) {
    for (let k: usize = 0; k < 4; k++) store<u8>(planeScratch + (k << 4) + j, load<u8>(code + (j << 2) + k));
  }
}

/** Plane k (0..3) written by buildPlanes. */
// @ts-ignore: decorator
@inline
export function plane(k: usize): v128 {
  return v128.load(planeScratch + (k << 4));
}

/**
 * out[0..16) = table[idx[j]] * scale for 16 nibble indices (one per byte lane).
 * Four swizzles fetch the four bytes of each code from the byte planes; two rounds of
 * interleaving shuffles (punpckl/h on x86) reassemble them into four f32x4, which are multiplied
 * by the block's absmax (one f32 multiply, as the reference) and stored.
 */
// @ts-ignore: decorator
@inline
function lookup16(idx: v128, dst: usize, p0: v128, p1: v128, p2: v128, p3: v128, scale: v128): void {
  const b0 = i8x16.swizzle(p0, idx);
  const b1 = i8x16.swizzle(p1, idx);
  const b2 = i8x16.swizzle(p2, idx);
  const b3 = i8x16.swizzle(p3, idx);
  const t01l = i8x16.shuffle(b0, b1, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const t01h = i8x16.shuffle(b0, b1, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const t23l = i8x16.shuffle(b2, b3, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const t23h = i8x16.shuffle(b2, b3, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  v128.store(dst, f32x4.mul(i16x8.shuffle(t01l, t23l, 0, 8, 1, 9, 2, 10, 3, 11), scale));
  v128.store(dst, f32x4.mul(i16x8.shuffle(t01l, t23l, 4, 12, 5, 13, 6, 14, 7, 15), scale), 16);
  v128.store(dst, f32x4.mul(i16x8.shuffle(t01h, t23h, 0, 8, 1, 9, 2, 10, 3, 11), scale), 32);
  v128.store(dst, f32x4.mul(i16x8.shuffle(t01h, t23h, 4, 12, 5, 13, 6, 14, 7, 15), scale), 48);
}

/**
 * out[0..32) from the 16 packed bytes at `src`: the nibbles are split (high = even element) and
 * interleaved into two vectors of 16 byte indices, each looked up with lookup16.
 */
// @ts-ignore: decorator
@inline
export function dequant32(src: usize, dst: usize, p0: v128, p1: v128, p2: v128, p3: v128, scale: v128): void {
  const bytes = v128.load(src);
  const hi = i8x16.shr_u(bytes, 4);
  const lo = v128.and(bytes, i8x16.splat(15));
  lookup16(i8x16.shuffle(hi, lo, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), dst, p0, p1, p2, p3, scale);
  lookup16(i8x16.shuffle(hi, lo, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31), dst + 64, p0, p1, p2, p3, scale);
}

/** One element: out[i] = code[nibble(i)] * am. */
// @ts-ignore: decorator
@inline
export function dequant1(packed: usize, code: usize, out: usize, i: usize, am: f32): void {
  const byte = u32(load<u8>(packed + (i >> 1)));
  const nib = i & 1 ? byte & 15 : byte >> 4;
  store<f32>(out + (i << 2), load<f32>(code + (nib << 2)) * am);
}
