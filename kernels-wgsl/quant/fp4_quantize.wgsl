// quant.fp4_quantize: blockwise FP4 quantization, byte-compatible with bitsandbytes.
//   absmax and s as for NF4; code = (s < 0 ? 8 : 0) | magnitude code of the FP4 value nearest
//   |s| (midpoints compared strictly: a tie goes to the lower magnitude); NaN -> 0.
// Shapes: x f32[n], packed u8[ceil(n/2)] (even element in the high nibble), absmax f32[blocks].
// Idea: as quant.nf4_quantize (one invocation per chunk of a block, lib/quantize_4bit.wgsl);
// only the code function differs: a branchless count of the 7 magnitude thresholds.
// #include "generated/tables.wgsl"
// #include "lib/quantize_4bit.wgsl"

// The 8 3-bit magnitude codes in one word (nibble c = code of the c-th magnitude): a shift
// instead of a variable index into a const array, which would copy the table per invocation.
const FP4_CODES_PACKED = FP4_MAGNITUDE_CODES[0] | (FP4_MAGNITUDE_CODES[1] << 4u)
  | (FP4_MAGNITUDE_CODES[2] << 8u) | (FP4_MAGNITUDE_CODES[3] << 12u)
  | (FP4_MAGNITUDE_CODES[4] << 16u) | (FP4_MAGNITUDE_CODES[5] << 20u)
  | (FP4_MAGNITUDE_CODES[6] << 24u) | (FP4_MAGNITUDE_CODES[7] << 28u);

fn code4(v: Scaled) -> u32 {
  let a = abs(v.s);
  // Branchless count of the 7 magnitude thresholds below |s| (constant indices fold to literals).
  var c = u32(a > bitcast<f32>(FP4_THRESHOLDS[0])) + u32(a > bitcast<f32>(FP4_THRESHOLDS[1]))
        + u32(a > bitcast<f32>(FP4_THRESHOLDS[2])) + u32(a > bitcast<f32>(FP4_THRESHOLDS[3]))
        + u32(a > bitcast<f32>(FP4_THRESHOLDS[4])) + u32(a > bitcast<f32>(FP4_THRESHOLDS[5]))
        + u32(a > bitcast<f32>(FP4_THRESHOLDS[6]));
  c = select(c, 7u, is_inf(v.s));             // on the bits: WGSL does not promise IEEE inf comparisons
  return select(0u, 8u, v.neg) | ((FP4_CODES_PACKED >> (4u * c)) & 7u);   // v.neg: IEEE s < 0 even where a GPU flushes subnormals
}
