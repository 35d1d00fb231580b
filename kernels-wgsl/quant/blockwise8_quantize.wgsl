// quant.blockwise8_quantize: 8-bit blockwise quantization to the nearest of 256 sorted code
// values (the dynamic map), as bitsandbytes quantize_blockwise.
//   v = x - offset; absmax[b] = max |v| over block b (NaN ignored); s = v * f32(1 / absmax[b]);
//   q = number of midpoints mid_i = (code[i] + code[i+1]) * 0.5 with s > mid_i; NaN -> 0.
// Shapes: x f32[n], code f32[256], q u8[n] (one code per byte), absmax f32[blocks].
// Idea: one segment of invocations per block (workgroup max reduction), the 255 midpoints in
// workgroup memory, a binary search per element (the reference's, step for step), one
// invocation per output word of 4 codes. blocksize >= 64 keeps blocks word-aligned.
// #include "lib/grid.wgsl"
// #include "lib/f32bits.wgsl"
// #include "lib/segment_max.wgsl"

override WG: u32 = 256u;

var<workgroup> mid: array<f32, 255>;

// x - offset; with offset 0 (the plain use) exactly x, so a subnormal x survives flushing GPUs.
fn shifted(v: f32) -> f32 {
  if (params.offset == 0.0) { return v; }
  return v - params.offset;
}

fn nearest_code(v: f32, inv_bits: u32) -> u32 {
  let sc = scale_by_inverse(v, inv_bits);
  if (sc.nan) { return 0u; }
  // +-inf (v * inf for a subnormal absmax): decided on the bits, since WGSL does not promise IEEE
  // comparisons against infinities. +inf is above every (finite) midpoint, -inf below all.
  if (is_inf(sc.s)) { return select(255u, 0u, sc.neg); }
  var lo = 0u;
  var hi = 255u;
  while (lo < hi) {
    let m = (lo + hi) >> 1u;
    if (sc.s > mid[m]) { lo = m + 1u; } else { hi = m; }
  }
  return lo;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  for (var i = t; i < 255u; i = i + WG) { mid[i] = (code[i] + code[i + 1u]) * 0.5; }

  let seg = min(params.blocksize, WG);
  let blk = flat_workgroup(wid, nwg) * (WG / seg) + t / seg;
  let l = t % seg;
  let start = blk * params.blocksize;
  let in_range = start < params.n;
  let end = min(params.n, start + params.blocksize);

  var m = 0u;
  if (in_range) {
    for (var i = start + l; i < end; i = i + seg) {
      let a = abs_bits(shifted(x[i]));
      if (a <= 0x7f800000u && a > m) { m = a; }
    }
  }
  let amax = segment_max(t, seg, m);             // its barriers also publish `mid`
  if (!in_range) { return; }
  if (l == 0u) { absmax[blk] = bitcast<f32>(amax); }
  let inv_bits = recip_bits(amax);

  let first_word = start / 4u;
  let words = (end - start + 3u) / 4u;
  for (var k = l; k < words; k = k + seg) {
    let w = first_word + k;
    var word = 0u;
    if (4u * w + 4u > params.n) { word = q[w]; } // keep bytes past the end
    for (var b = 0u; b < 4u; b = b + 1u) {
      let e = 4u * w + b;
      if (e < params.n) {
        word = (word & ~(0xffu << (8u * b))) | (nearest_code(shifted(x[e]), inv_bits) << (8u * b));
      }
    }
    q[w] = word;
  }
}
