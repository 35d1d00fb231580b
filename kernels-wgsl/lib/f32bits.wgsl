// f32 helpers that decide NaN, Inf and subnormal cases on the bits.
//
// Why: WGSL lets an implementation assume that no value is NaN or Inf and lets it flush
// subnormals to zero, and GPU division may be up to 2.5 ulp off. Bit-exact quantization needs
// the IEEE answers (the reference is plain IEEE f32), so every case where they matter is decided
// here with integer operations, and only the common case (normal finite operands) uses the FPU.

fn bits_is_nan(b: u32) -> bool { return (b & 0x7fffffffu) > 0x7f800000u; }
fn bits_is_inf(b: u32) -> bool { return (b & 0x7fffffffu) == 0x7f800000u; }
fn is_nan(x: f32) -> bool { return bits_is_nan(bitcast<u32>(x)); }
fn is_inf(x: f32) -> bool { return bits_is_inf(bitcast<u32>(x)); }
fn is_finite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }

// |x| as bits. For values that are not NaN, comparing these as u32 orders them by |x|, so a
// max |x| reduction over them is exact and immune to subnormal flushing.
fn abs_bits(x: f32) -> u32 { return bitcast<u32>(x) & 0x7fffffffu; }

// The bits of 1 / a, rounded to nearest even, for `ab` = bits of a >= 0 (not NaN).
// Long division of the 24-bit significand (26 quotient bits + a sticky bit) so that the result
// does not depend on the GPU's division; handles subnormal a (result may be inf) and huge a
// (result subnormal). Runs once per block, so its ~30 integer steps cost nothing.
fn recip_bits(ab: u32) -> u32 {
  if (ab == 0u) { return 0x7f800000u; }          // 1 / 0 = inf
  if (ab >= 0x7f800000u) { return 0u; }          // 1 / inf = 0
  var e = i32(ab >> 23u);
  var m = ab & 0x7fffffu;
  if (e == 0) {                                  // subnormal: normalize the significand
    e = 1;
    while ((m & 0x800000u) == 0u) { m = m << 1u; e = e - 1; }
  } else {
    m = m | 0x800000u;
  }
  // a = (m / 2^23) * 2^(e - 127), m in [2^23, 2^24).
  if (m == 0x800000u) {                          // a power of two: 1/a = 2^(127 - e) exactly
    let eb = 254 - e;
    if (eb >= 255) { return 0x7f800000u; }
    if (eb >= 1) { return u32(eb) << 23u; }
    return 1u << u32(22 + eb);                   // subnormal power of two
  }
  // q = floor(2^25 * 2^23 / m), in [2^24, 2^25): 25 significant bits; sticky = remainder != 0.
  var rem = 0x800000u;
  var q = 0u;
  for (var i = 0u; i < 26u; i = i + 1u) {
    q = q << 1u;
    if (rem >= m) { rem = rem - m; q = q | 1u; }
    rem = rem << 1u;
  }
  let sticky = rem != 0u;
  // 1/a = (q / 2^24) * 2^(126 - e): biased exponent eb; keep 24 bits (fewer when subnormal).
  let eb = 253 - e;
  if (eb >= 255) { return 0x7f800000u; }
  var drop = 1u;
  if (eb < 1) { drop = u32(2 - eb); }
  var mant = q >> drop;
  let r = q & ((1u << drop) - 1u);
  let half = 1u << (drop - 1u);
  if (r > half || (r == half && (sticky || (mant & 1u) == 1u))) { mant = mant + 1u; }
  if (eb >= 1) { return (u32(eb - 1) << 23u) + mant; }   // a carry out of mant bumps the exponent
  return mant;
}

// v * w for finite v, w, rounded as IEEE f32 whenever the product is a normal number, even on a
// GPU that flushes subnormal operands: a subnormal operand is rescaled exactly into the normal
// range first (its partner takes the opposite power of two, which is also exact). Products that
// are themselves subnormal may still be flushed; no kernel decision depends on them except the
// sign of an FP4 zero, which the conformance suite treats as ambiguous.
fn mul_no_ftz(v: f32, w: f32) -> f32 {
  let vb = bitcast<u32>(v);
  let wb = bitcast<u32>(w);
  let v_sub = (vb & 0x7f800000u) == 0u && (vb & 0x7fffffu) != 0u;
  let w_sub = (wb & 0x7f800000u) == 0u && (wb & 0x7fffffu) != 0u;
  let two_m126 = bitcast<f32>(0x00800000u);      // 2^-126
  let two_m23 = bitcast<f32>(0x34000000u);       // 2^-23
  if (v_sub && !w_sub) {
    // v = m * 2^-149 = (m * 2^-126) * 2^-23
    let vn = bitcast<f32>(bitcast<u32>(f32(vb & 0x7fffffu) * two_m126) | (vb & 0x80000000u));
    return vn * (w * two_m23);
  }
  if (w_sub && !v_sub) {
    let wn = bitcast<f32>(bitcast<u32>(f32(wb & 0x7fffffu) * two_m126) | (wb & 0x80000000u));
    return (v * two_m23) * wn;
  }
  return v * w;
}

// A scaled value s = v * inv of a blockwise quantizer, or "NaN" (which every quantizer maps to
// code 0). `inv_bits` is recip_bits(absmax): inf for a zero block, 0 for an infinite absmax.
struct Scaled {
  nan: bool,
  s: f32,
  // s < 0 in IEEE arithmetic. Differs from `s < 0.0` only where this GPU flushed a negative
  // subnormal product to zero; FP4's sign bit reads this.
  neg: bool,
}

// Why the fast path: a branch costs little when no invocation of a SIMD group takes it (lavapipe
// skips it too), while running the exact path below for every element was ~40% of the 4-bit
// quantizers' time on lavapipe (3 of 7.5 ms for n = 2^20). The plain product is the IEEE one
// when v, inv and the product are all normal (WGSL rounds finite f32 products correctly), and
// v = +-0 gives +-0 with neg = false as the exact path does; that covers nearly every element.
fn scale_by_inverse(v: f32, inv_bits: u32) -> Scaled {
  let vb = bitcast<u32>(v);
  let s = v * bitcast<f32>(inv_bits);
  let v_normal = (vb & 0x7f800000u) - 0x00800000u < 0x7f000000u;    // biased exponent in [1, 254]
  let inv_normal = inv_bits - 0x00800000u < 0x7f000000u;             // positive normal
  let s_normal = (bitcast<u32>(s) & 0x7f800000u) - 0x00800000u < 0x7f000000u;
  if (inv_normal && ((v_normal && s_normal) || (vb & 0x7fffffffu) == 0u)) {
    return Scaled(false, s, s < 0.0);
  }
  return scale_by_inverse_exact(v, inv_bits);
}

// scale_by_inverse for every case, deciding NaN, Inf and subnormals on the bits.
fn scale_by_inverse_exact(v: f32, inv_bits: u32) -> Scaled {
  let vb = bitcast<u32>(v);
  if (bits_is_nan(vb)) { return Scaled(true, 0.0, false); }
  if (inv_bits == 0x7f800000u) {                 // v * inf: NaN for 0, else +-inf
    if ((vb & 0x7fffffffu) == 0u) { return Scaled(true, 0.0, false); }
    return Scaled(false, bitcast<f32>((vb & 0x80000000u) | 0x7f800000u), (vb & 0x80000000u) != 0u);
  }
  if (inv_bits == 0u) {                          // v * 0: NaN for +-inf, else a signed zero
    if (bits_is_inf(vb)) { return Scaled(true, 0.0, false); }
    return Scaled(false, bitcast<f32>(vb & 0x80000000u), false);   // -0 is not < 0
  }
  let w = bitcast<f32>(inv_bits);
  let s = mul_no_ftz(v, w);
  var neg = s < 0.0;
  if ((bitcast<u32>(s) & 0x7fffffffu) == 0u && (vb & 0x80000000u) != 0u && (vb & 0x7fffffffu) != 0u) {
    // A zero from a negative v: either the IEEE product rounds to zero, or it is a subnormal this
    // GPU flushed. Redo it 2^64 larger, where it is normal: IEEE gives a nonzero result iff
    // |v * w| > 2^-150, i.e. the scaled product exceeds 2^-86.
    let big = mul_no_ftz(mul_no_ftz(v, bitcast<f32>(0x5f800000u)), w);   // v * 2^64 * w
    neg = abs(big) > bitcast<f32>(0x14800000u);                            // 2^-86
  }
  return Scaled(false, s, neg);
}
