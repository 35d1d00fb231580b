// rowsum32 (the nn family's shared row reduction, the same name in every runtime): the sum of
// rowsum32_term(row, j, arg, zero) over j in [a, b), as the spec fixes it: lane l < 32 holds
// s_l = +0.0, then s_l = s_l + term(j) for j = a + l, a + l + 32, ... in increasing j; then for
// off = 16, 8, 4, 2, 1: s_l = s_l + s_(l+off) for l < off; the sum is s_0.
//
// The including kernel runs with WG = 32 (one invocation per lane), calls rowsum32 from uniform
// control flow with every invocation, and defines
//   fn rowsum32_term(row: u32, j: u32, arg: f32, zero: u32) -> f32
// (`zero` is a run-time 0 for `unfused`, so no term's product fuses with the lane's add).
// Idea: after the lanes are in workgroup memory, every invocation adds the fixed tree itself
// (31 adds) instead of one tree level per barrier: 2 barriers per call instead of 7 (on lavapipe
// a barrier is a coroutine switch per SIMD group), and every invocation gets the sum.
var<workgroup> rowsum32_lanes: array<f32, 32>;

fn rowsum32(lane: u32, a: u32, b: u32, row: u32, arg: f32, zero: u32) -> f32 {
  var s = bitcast<f32>(zero);                    // +0.0 the compiler cannot fold away
  for (var j = a + lane; j < b; j = j + 32u) { s = s + rowsum32_term(row, j, arg, zero); }
  workgroupBarrier();                            // earlier calls have read the lanes
  rowsum32_lanes[lane] = s;
  workgroupBarrier();
  var t: array<f32, 32>;
  for (var l = 0u; l < 32u; l = l + 1u) { t[l] = rowsum32_lanes[l]; }
  for (var off = 16u; off > 0u; off = off / 2u) {
    for (var l = 0u; l < off; l = l + 1u) { t[l] = t[l] + t[l + off]; }
  }
  return t[0];
}
