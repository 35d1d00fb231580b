// The fixed 256-ary reduction tree of linalg.sum and linalg.sum_squares, one level per pass.
// The including kernel defines `fn term(i: u32, zero: u32) -> f32` (the level-0 summand of
// element i; `zero` is a run-time 0 for `unfused`).
//
//   level 0 (pass 0):   chunk c sums term(i) over i in [256c, min(n, 256c + 256)), in order;
//   level l (pass l):   chunk c sums the level l-1 partials [256c, min(len, 256c + 256)), in order;
//   the level with a single chunk writes out[0] (plus the old out[0] when accumulate == 1).
// partials holds level 0, then level 1, ... (the natural layout of the spec); the last level is
// never stored there. One invocation per chunk: the sum over a chunk is one sequential chain, as
// the spec fixes, and n / 256 chains keep every lane busy. Each accumulator starts from a run-time
// +0.0, so no compiler can drop the first `+0.0 + v` (which turns -0 into +0).
// #include "lib/grid.wgsl"
// #include "lib/passes.wgsl"

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let zero = params.n >> 31u;                    // n < 2^31: 0, but only known at run time
  // Walk the levels below this pass: len = length of this level's input, in_base its offset in
  // partials (level >= 1), out_base where this level's partials go.
  var len = params.n;
  var in_base = 0u;
  var out_base = 0u;
  for (var l = 0u; l < pass_info.index; l = l + 1u) {
    let next = (len + 255u) / 256u;
    in_base = out_base;
    out_base = out_base + next;
    len = next;
  }
  let chunks = (len + 255u) / 256u;
  let c = flat_workgroup(wid, nwg) * WG + t;
  if (c >= chunks) { return; }

  var acc = bitcast<f32>(zero);
  let end = min(len, 256u * c + 256u);
  if (pass_info.index == 0u) {
    for (var i = 256u * c; i < end; i = i + 1u) { acc = acc + term(i, zero); }
  } else {
    for (var i = 256u * c; i < end; i = i + 1u) { acc = acc + partials[in_base + i]; }
  }
  if (chunks > 1u) {
    partials[out_base + c] = acc;
  } else if (params.accumulate == 1u) {
    out[0] = out[0] + acc;
  } else {
    out[0] = acc;
  }
}
