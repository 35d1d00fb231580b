// quant.fp4_quantize: blockwise FP4 quantization, byte-compatible with bitsandbytes.
//   absmax and s as for NF4; code = (s < 0 ? 8 : 0) | magnitude code of the FP4 value nearest
//   |s| (midpoints compared strictly: a tie goes to the lower magnitude); NaN -> 0.
// Shapes: x f32[n], packed u8[ceil(n/2)] (even element in the high nibble), absmax f32[blocks].
// Idea: as quant.nf4_quantize (lib/quantize_4bit.wgsl); only the code function differs.
// #include "generated/tables.wgsl"
// #include "lib/quantize_4bit.wgsl"

fn code4(v: Scaled) -> u32 {
  let s = v.s;
  var th = FP4_THRESHOLDS;
  var codes = FP4_MAGNITUDE_CODES;
  let a = abs(s);
  var c = 0u;
  if (is_inf(s)) {
    c = 7u;                                  // on the bits: WGSL does not promise IEEE inf comparisons
  } else {
    for (var i = 0u; i < 7u; i = i + 1u) {
      if (a > bitcast<f32>(th[i])) { c = c + 1u; }
    }
  }
  return select(0u, 8u, v.neg) | codes[c];   // v.neg: IEEE s < 0 even where a GPU flushes subnormals
}
