// linalg.peak_flops: the runtime's multiply-add peak. Work item t keeps 8 accumulators
//   a_j = (j + 1) / 16 + (t mod 256) / 4096, iters times a_j = a_j * x + y (a multiply, then an
//   add, as every other kernel here), then out[t] = a_0 + a_1 + ... + a_7 in order.
// Shapes: out f32[threads].
// Idea: two vec4 chains (8 independent accumulators) in registers, no memory traffic but the one
// store; the products pass through `unfused` like the matmul's, so the rate measured is the one
// the other kernels can reach. x and y come from the params, so nothing folds.
// #include "lib/grid.wgsl"

override WG: u32 = 64u;

fn unfused4(p: vec4<f32>, zero: u32) -> vec4<f32> {
  return bitcast<vec4<f32>>(bitcast<vec4<u32>>(p) ^ vec4<u32>(zero));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) l: u32) {
  let t = flat_workgroup(wid, nwg) * WG + l;
  if (t >= params.threads) { return; }
  let zero = params.threads >> 31u;
  // Exact in f32: multiples of 1/16 plus multiples of 1/4096 below 1.
  let off = f32(t % 256u) * 0.000244140625;
  var a = vec4<f32>(0.0625, 0.125, 0.1875, 0.25) + vec4<f32>(off);
  var b = vec4<f32>(0.3125, 0.375, 0.4375, 0.5) + vec4<f32>(off);
  let x = vec4<f32>(params.x);
  let y = vec4<f32>(params.y);
  for (var i = 0u; i < params.iters; i = i + 1u) {
    a = unfused4(a * x, zero) + y;
    b = unfused4(b * x, zero) + y;
  }
  out[t] = ((((((a.x + a.y) + a.z) + a.w) + b.x) + b.y) + b.z) + b.w;
}
