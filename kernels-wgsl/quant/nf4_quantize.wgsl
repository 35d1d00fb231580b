// quant.nf4_quantize: blockwise NF4 quantization, byte-compatible with bitsandbytes.
//   absmax[b] = max |x| over block b (NaN ignored); s = x * f32(1 / absmax[b]);
//   code = number of NF4 midpoints t with s > t (a midpoint goes to the lower code); NaN -> 0.
// Shapes: x f32[n], packed u8[ceil(n/2)] (even element in the high nibble), absmax f32[blocks].
// Idea: one segment of invocations per block, a workgroup max reduction for absmax, then one
// invocation per packed word (see lib/quantize_4bit.wgsl).
// #include "generated/tables.wgsl"
// #include "lib/quantize_4bit.wgsl"

fn code4(v: Scaled) -> u32 {
  let s = v.s;
  // +-inf on the bits (WGSL does not promise IEEE comparisons against infinities).
  if (is_inf(s)) { return select(15u, 0u, v.neg); }
  var th = NF4_THRESHOLDS;
  var c = 0u;
  for (var i = 0u; i < 15u; i = i + 1u) {
    if (s > bitcast<f32>(th[i])) { c = c + 1u; }
  }
  return c;
}
