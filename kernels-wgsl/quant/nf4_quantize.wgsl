// quant.nf4_quantize: blockwise NF4 quantization, byte-compatible with bitsandbytes.
//   absmax[b] = max |x| over block b (NaN ignored); s = x * f32(1 / absmax[b]);
//   code = number of NF4 midpoints t with s > t (a midpoint goes to the lower code); NaN -> 0.
// Shapes: x f32[n], packed u8[ceil(n/2)] (even element in the high nibble), absmax f32[blocks].
// Idea: one invocation per chunk of a block (the whole block when blocksize <= PER = 64), so
// small blocks need no workgroup barrier; the absmax partials of larger blocks are combined in
// workgroup memory (lib/quantize_4bit.wgsl). The code is a branchless count of the 15
// thresholds with constant indices.
// #include "generated/tables.wgsl"
// #include "lib/quantize_4bit.wgsl"

fn code4(v: Scaled) -> u32 {
  let s = v.s;
  // +-inf on the bits (WGSL does not promise IEEE comparisons against infinities).
  if (is_inf(s)) { return select(15u, 0u, v.neg); }
  // Constant indices fold to literals; a loop with a variable index made a per-invocation copy
  // of the table. 15 compares and adds vectorize well; a 4-compare search with selects measured
  // the same on lavapipe, and a tree of branches would diverge.
  return u32(s > bitcast<f32>(NF4_THRESHOLDS[0])) + u32(s > bitcast<f32>(NF4_THRESHOLDS[1]))
       + u32(s > bitcast<f32>(NF4_THRESHOLDS[2])) + u32(s > bitcast<f32>(NF4_THRESHOLDS[3]))
       + u32(s > bitcast<f32>(NF4_THRESHOLDS[4])) + u32(s > bitcast<f32>(NF4_THRESHOLDS[5]))
       + u32(s > bitcast<f32>(NF4_THRESHOLDS[6])) + u32(s > bitcast<f32>(NF4_THRESHOLDS[7]))
       + u32(s > bitcast<f32>(NF4_THRESHOLDS[8])) + u32(s > bitcast<f32>(NF4_THRESHOLDS[9]))
       + u32(s > bitcast<f32>(NF4_THRESHOLDS[10])) + u32(s > bitcast<f32>(NF4_THRESHOLDS[11]))
       + u32(s > bitcast<f32>(NF4_THRESHOLDS[12])) + u32(s > bitcast<f32>(NF4_THRESHOLDS[13]))
       + u32(s > bitcast<f32>(NF4_THRESHOLDS[14]));
}
