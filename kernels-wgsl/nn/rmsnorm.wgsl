// nn.rmsnorm: per row r, ss = rowsum32(x_j * x_j), var = ss / c, rstd = 1 / sqrt(var + eps),
// y[r, j] = w[j] * (x[r, j] * rstd); rstd[r] = rstd (LlamaRMSNorm, each operation rounded).
// Shapes: x f32[n, c], w f32[c], y f32[n, c], rstd f32[n].
// Idea: one workgroup of 32 invocations per row, one per rowsum32 lane (lib/rowsum32.wgsl); the
// division and square root are lib/ieee_div_sqrt.wgsl's correctly rounded ones (once per row), so
// the kernel is exact like the other runtimes, not WGSL-approximate.
// #include "lib/grid.wgsl"
// #include "lib/unfused.wgsl"
// #include "lib/rowsum32.wgsl"
// #include "lib/ieee_div_sqrt.wgsl"

override WG: u32 = 32u;                          // must be 32: one invocation per rowsum32 lane

fn rowsum32_term(row: u32, j: u32, arg: f32, zero: u32) -> f32 {
  let v = x[row * params.c + j];
  return unfused(v * v, zero);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) l: u32) {
  let r = flat_workgroup(wid, nwg);
  if (r >= params.n) { return; }                 // uniform per workgroup
  let zero = params.n >> 31u;
  let ss = rowsum32(l, 0u, params.c, r, 0.0, zero);
  let variance = div_ieee(ss, f32(params.c));
  let rs = div_ieee(1.0, sqrt_ieee(variance + params.eps));
  let o = r * params.c;
  for (var j = l; j < params.c; j = j + 32u) { y[o + j] = w[j] * (x[o + j] * rs); }
  if (l == 0u) { rstd[r] = rs; }
}
