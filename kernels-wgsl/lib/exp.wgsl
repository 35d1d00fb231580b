// exp_f32(x): e^x in f32 within about 1 ulp, for every finite x (and -Inf -> 0, +Inf -> +Inf).
//
// Why not the builtin: lavapipe (and many GPU compilers) evaluate exp(x) as exp2(x * log2(e)),
// which rounds the scaled argument first; its error grows with |x| (about 20 ulp near |x| = 88),
// more than the nn kernels' `close` bounds (derived for a 1-3 ulp exp) allow. This is Cephes'
// expf: x = n·ln2 + r with n = round(x / ln2) and r = x - n·C1 - n·C2 (C1 = 0.693359375 has 9
// significant bits, so n·C1 is exact for |n| <= 150), a degree-6 polynomial for e^r on
// |r| <= ln2/2, then 2^n applied on the bits in two steps (so n = 128 and subnormal results work
// where the device keeps subnormals). Overflow and underflow are decided on the bits of x.
fn exp_f32(x: f32) -> f32 {
  let xb = bitcast<u32>(x);
  let ax = xb & 0x7fffffffu;
  if (ax > 0x7f800000u) { return x; }                                // NaN
  if ((xb & 0x80000000u) == 0u && ax > 0x42b17217u) { return bitcast<f32>(0x7f800000u | (ax >> 31u)); }   // x > 88.7228: +Inf (a run-time constant: WGSL rejects a constant Inf)
  if ((xb & 0x80000000u) != 0u && ax > 0x42d00000u) { return 0.0; }  // x < -104: 0 (also -Inf)
  let n = floor(x * 1.44269504088896341 + 0.5);
  var r = x - n * 0.693359375;
  r = r - n * -2.12194440e-4;
  let z = r * r;
  var y = 1.9875691500e-4;
  y = y * r + 1.3981999507e-3;
  y = y * r + 8.3334519073e-3;
  y = y * r + 4.1665795894e-2;
  y = y * r + 1.6666665459e-1;
  y = y * r + 5.0000001201e-1;
  y = y * z + r + 1.0;
  let ni = i32(n);
  let n1 = ni / 2;
  let n2 = ni - n1;
  return y * bitcast<f32>(u32(n1 + 127) << 23u) * bitcast<f32>(u32(n2 + 127) << 23u);
}
