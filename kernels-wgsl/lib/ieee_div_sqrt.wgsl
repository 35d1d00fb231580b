// div_ieee(a, b) and sqrt_ieee(a): IEEE f32 division and square root, correctly rounded (to
// nearest even), computed on the bits with integer long division / digit-by-digit square root.
//
// Why: WGSL's `/` may be 2.5 ulp off and its sqrt more (lavapipe's are not correctly rounded),
// while the specs of nn.rmsnorm(_backward) fix f(ss / c) and f(1 / f(sqrt(...))) as IEEE
// operations. They run once per row, so ~30 integer steps each cost nothing and keep those kernels
// exact on every device. Subnormal operands and results are handled; NaN, Inf and zeros as IEEE.

// (significand in [2^23, 2^24), biased exponent, possibly <= 0 for a subnormal) of finite |x| > 0.
fn ieee_unpack(ub: u32) -> vec2<i32> {
  var e = i32(ub >> 23u);
  var m = ub & 0x7fffffu;
  if (e == 0) {
    e = 1;
    while ((m & 0x800000u) == 0u) { m = m << 1u; e = e - 1; }
  } else {
    m = m | 0x800000u;
  }
  return vec2<i32>(i32(m), e);
}

// Bits of q * 2^(E - 127 - frac) rounded to nearest even, for q with its leading 1 at bit frac
// (frac = 25 or 26 here) and `sticky` = lower bits beyond q are nonzero; E is the biased exponent.
fn ieee_round(q: u32, frac: u32, e: i32, sticky: bool) -> u32 {
  if (e >= 255) { return 0x7f800000u; }
  var drop = frac - 23u;
  if (e < 1) { drop = drop + u32(1 - e); }
  if (drop > frac + 1u) { return 0u; }           // below half the smallest subnormal
  var mant = 0u;
  var r = q;
  if (drop < 32u) { mant = q >> drop; r = q & ((1u << drop) - 1u); }
  let half = 1u << (drop - 1u);
  if (r > half || (r == half && (sticky || (mant & 1u) == 1u))) { mant = mant + 1u; }
  if (e >= 1) { return (u32(e - 1) << 23u) + mant; }   // a carry out of mant bumps the exponent
  return mant;
}

fn div_ieee(a: f32, b: f32) -> f32 { return bitcast<f32>(div_ieee_bits(a, b)); }

// (Bits, not f32: WGSL rejects a NaN or Inf constant, so the special cases return words.)
fn div_ieee_bits(a: f32, b: f32) -> u32 {
  let ab = bitcast<u32>(a);
  let bb = bitcast<u32>(b);
  let sign = (ab ^ bb) & 0x80000000u;
  let ua = ab & 0x7fffffffu;
  let ub = bb & 0x7fffffffu;
  if (ua > 0x7f800000u || ub > 0x7f800000u) { return 0x7fc00000u; }
  if (ua == 0x7f800000u) {
    if (ub == 0x7f800000u) { return 0x7fc00000u; }
    return sign | 0x7f800000u;
  }
  if (ub == 0x7f800000u) { return sign; }
  if (ub == 0u) {
    if (ua == 0u) { return 0x7fc00000u; }
    return sign | 0x7f800000u;
  }
  if (ua == 0u) { return sign; }
  let pa = ieee_unpack(ua);
  let pb = ieee_unpack(ub);
  var ma = u32(pa.x);
  let mb = u32(pb.x);
  var e = pa.y - pb.y + 127;
  if (ma < mb) { ma = ma << 1u; e = e - 1; }     // ma / mb in [1, 2)
  var rem = ma;
  var q = 0u;
  for (var i = 0u; i < 26u; i = i + 1u) {        // q = floor(2^25 * ma / mb), in [2^25, 2^26)
    q = q << 1u;
    if (rem >= mb) { rem = rem - mb; q = q | 1u; }
    rem = rem << 1u;
  }
  return sign | ieee_round(q, 25u, e, rem != 0u);
}

fn sqrt_ieee(a: f32) -> f32 { return bitcast<f32>(sqrt_ieee_bits(a)); }

fn sqrt_ieee_bits(a: f32) -> u32 {
  let ab = bitcast<u32>(a);
  if ((ab & 0x7fffffffu) == 0u) { return ab; }   // sqrt(-0) = -0
  if ((ab & 0x80000000u) != 0u || ab > 0x7f800000u) { return 0x7fc00000u; }
  if (ab == 0x7f800000u) { return ab; }
  let pa = ieee_unpack(ab);
  var m2 = u32(pa.x);
  var p = pa.y - 150;                            // a = m * 2^p
  if ((p & 1) != 0) { m2 = m2 << 1u; p = p - 1; }
  // root = floor(sqrt(m2 * 2^26)), one bit per step from the top pair; rem <= 2 * root < 2^27.
  var rem = 0u;
  var root = 0u;
  for (var i = 25i; i >= 0i; i = i - 1i) {
    var pair = 0u;
    if (i >= 13i) { pair = (m2 >> u32(2i * i - 26i)) & 3u; }
    rem = (rem << 2u) | pair;
    let trial = (root << 2u) | 1u;
    root = root << 1u;
    if (rem >= trial) { rem = rem - trial; root = root | 1u; }
  }
  // sqrt(a) = root * 2^((p - 26) / 2), root in [2^24, 2^26).
  var frac = 24u;
  if (root >= 0x2000000u) { frac = 25u; }
  let e = i32(frac) + (p - 26) / 2 + 127;
  return ieee_round(root, frac, e, rem != 0u);
}
