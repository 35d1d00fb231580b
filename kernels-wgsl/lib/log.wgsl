// log_f32(x): the natural log in f32 within about 1 ulp for normal x > 0 (0 -> -Inf, x < 0 or
// NaN -> NaN, +Inf -> +Inf, decided on the bits; subnormal x is treated as 0).
// Why not the builtin: lavapipe evaluates log(x) as log2(x) * ln2, whose two roundings and
// polynomial may exceed the nn kernels' `close` bounds. This is Cephes' logf: x = 2^e · f with
// f in [sqrt(1/2), sqrt(2)), log(f) by a degree-9 polynomial in f - 1, and e·ln2 added in two
// parts (0.693359375 has 9 significant bits, so e·0.693359375 is exact).
fn log_f32(x: f32) -> f32 {
  let b = bitcast<u32>(x);
  if ((b & 0x7fffffffu) > 0x7f800000u || ((b & 0x80000000u) != 0u && (b & 0x7fffffffu) != 0u)) {
    return bitcast<f32>(0x7fc00000u | (b & 0u));
  }
  if ((b & 0x7f800000u) == 0u) { return bitcast<f32>(0xff800000u | (b & 0u)); }   // 0 (and subnormals)
  if (b == 0x7f800000u) { return x; }
  var e = f32(i32(b >> 23u) - 126);
  var f = bitcast<f32>((b & 0x007fffffu) | 0x3f000000u);          // in [0.5, 1)
  if (f < 0.707106781186547524) {
    e = e - 1.0;
    f = f + f - 1.0;
  } else {
    f = f - 1.0;
  }
  let z = f * f;
  var y = 7.0376836292e-2;
  y = y * f - 1.1514610310e-1;
  y = y * f + 1.1676998740e-1;
  y = y * f - 1.2420140846e-1;
  y = y * f + 1.4249322787e-1;
  y = y * f - 1.6668057665e-1;
  y = y * f + 2.0000714765e-1;
  y = y * f - 2.4999993993e-1;
  y = y * f + 3.3333331174e-1;
  y = y * f * z;
  y = y + e * -2.12194440e-4;
  y = y - 0.5 * z;
  return f + y + e * 0.693359375;
}
