// Exact widening of bf16 / f16 elements to f32, shared by quant.dequantize_16bit and
// linalg.matmul_16bit (the GEMM's B panels, common/gemm.ts).
//
// A 16-bit buffer is a little-endian u16 array (element e at byte 2e; the spec's words hold
// element e in bits 16*(e%2)..), so wasm addresses the halves directly.
//   bf16: bits = h << 16.
//   f16:  normal: sign | ((h & 0x7fff) << 13) + (112 << 23); inf/NaN (exponent 31): sign | 0x7f800000 |
//         mantissa << 13; subnormal (exponent 0): sign | bits(f32(mantissa) * 2^-24) — exact, a normal f32.
// Idea: eight halves per 16-byte load, widened to two i32x4 and converted with integer masks and
// selects (one f32 multiply for the subnormal lanes), so a whole run of a row costs a few SIMD ops
// per eight weights; the tail goes one element at a time with the same formulas.

export const FORMAT_BF16: u32 = 0;
export const FORMAT_F16: u32 = 1;

/** f32 bits of one f16 value. */
// @ts-ignore: decorator
@inline
export function f16Bits(h: u32): u32 {
  const sign = (h & 0x8000) << 16;
  const ex = h & 0x7c00;
  const mt = h & 0x3ff;
  if (ex == 0) return sign | reinterpret<u32>(f32(mt) * reinterpret<f32>(0x33800000)); // 2^-24
  if (ex == 0x7c00) return sign | 0x7f800000 | (mt << 13);
  return sign | (((h & 0x7fff) << 13) + (112 << 23));
}

/** f32 bits of one element of either format. */
// @ts-ignore: decorator
@inline
export function wideBits(h: u32, format: u32): u32 {
  return format == FORMAT_BF16 ? h << 16 : f16Bits(h);
}

/** Four f16 values (u32 lanes, high halves zero) to f32 bits. */
// @ts-ignore: decorator
@inline
function f16x4(h: v128): v128 {
  const sign = i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16);
  const ex = v128.and(h, i32x4.splat(0x7c00));
  const mt = v128.and(h, i32x4.splat(0x3ff));
  const normal = i32x4.add(i32x4.shl(v128.and(h, i32x4.splat(0x7fff)), 13), i32x4.splat(112 << 23));
  const special = v128.or(i32x4.splat(0x7f800000), i32x4.shl(mt, 13));
  const sub = f32x4.mul(f32x4.convert_i32x4_u(mt), f32x4.splat(reinterpret<f32>(0x33800000)));
  let r = v128.bitselect(sub, normal, i32x4.eq(ex, i32x4.splat(0)));
  r = v128.bitselect(special, r, i32x4.eq(ex, i32x4.splat(0x7c00)));
  return v128.or(r, sign);
}

/** dst[0..count) (f32) = the elements [e0, e0 + count) of the 16-bit buffer at `w`, widened. */
export function widenRange(w: usize, format: u32, e0: usize, count: usize, dst: usize): void {
  let src = w + (e0 << 1);
  let d = dst;
  let left = count;
  if (format == FORMAT_BF16) {
    for (; left >= 8; left -= 8, src += 16, d += 32) {
      const v = v128.load(src);
      v128.store(d, i32x4.shl(i32x4.extend_low_i16x8_u(v), 16));
      v128.store(d, i32x4.shl(i32x4.extend_high_i16x8_u(v), 16), 16);
    }
    for (; left > 0; left--, src += 2, d += 4) store<u32>(d, u32(load<u16>(src)) << 16);
  } else {
    for (; left >= 8; left -= 8, src += 16, d += 32) {
      const v = v128.load(src);
      v128.store(d, f16x4(i32x4.extend_low_i16x8_u(v)));
      v128.store(d, f16x4(i32x4.extend_high_i16x8_u(v)), 16);
    }
    for (; left > 0; left--, src += 2, d += 4) store<u32>(d, f16Bits(u32(load<u16>(src))));
  }
}
