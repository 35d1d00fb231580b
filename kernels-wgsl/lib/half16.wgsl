// Exact widening of a bf16 or f16 element to f32 bits, with integer operations only (no f16
// type, no unpack2x16float: a device may flush f16 subnormals there, and WGSL may assume no NaN
// or Inf in float arithmetic). The including kernel has a binding `w` of u32 words holding the
// halves, element e in bits 16 * (e % 2).. of word e / 2.
//   bf16 (format 0): h << 16.
//   f16 (format 1): normal: sign | ((h & 0x7fff) << 13) + (112 << 23); exponent 31: sign | 0x7f800000 |
//   mantissa << 13 (inf, NaN with its payload); subnormal mt * 2^-24 = 2^(p-24) * 1.f with p the
//   top bit of mt: exponent p + 103, mantissa (mt << (23 - p)) without its leading bit.

fn half_at(e: u32) -> u32 {
  return (w[e >> 1u] >> (16u * (e & 1u))) & 0xffffu;
}

fn f16_bits(h: u32) -> u32 {
  let sign = (h & 0x8000u) << 16u;
  let ex = h & 0x7c00u;
  let mt = h & 0x3ffu;
  if (ex == 0x7c00u) { return sign | 0x7f800000u | (mt << 13u); }
  if (ex != 0u) { return sign | (((h & 0x7fffu) << 13u) + (112u << 23u)); }
  if (mt == 0u) { return sign; }
  let p = firstLeadingBit(mt);
  return sign | ((p + 103u) << 23u) | ((mt << (23u - p)) & 0x7fffffu);
}

fn wide_bits(h: u32, format: u32) -> u32 {
  if (format == 0u) { return h << 16u; }
  return f16_bits(h);
}
