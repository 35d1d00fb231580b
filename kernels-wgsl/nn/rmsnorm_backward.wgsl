// nn.rmsnorm_backward: per row r (rs = rstd[r], xhat_j = x[r, j] * rs, g_j = dy[r, j] * w[j]):
//   dot = rowsum32(g_j * xhat_j), mu = dot / c, dx[r, j] = rs * (g_j - xhat_j * mu);
// per column j: dw[j] = (accumulate ? dw[j] : +0) + dy[0, j]*xhat_0j + dy[1, j]*xhat_1j + ...
// summed in row order. Each operation rounded, no fma.
// Shapes: x f32[n, c], w f32[c], rstd f32[n], dy f32[n, c], dx f32[n, c], dw f32[c].
// Idea: one dispatch, two kinds of workgroup: the first n are rows (32 invocations, one per
// rowsum32 lane; mu's division is lib/ieee_div_sqrt.wgsl's, so dx is exact), the next ceil(c/32)
// are columns of dw, one invocation per column walking the rows in order (one sequential sum
// each, no atomics). The two parts touch different outputs, so they need no order between them.
// #include "lib/grid.wgsl"
// #include "lib/unfused.wgsl"
// #include "lib/rowsum32.wgsl"
// #include "lib/ieee_div_sqrt.wgsl"

override WG: u32 = 32u;                          // must be 32: one invocation per rowsum32 lane

fn rowsum32_term(row: u32, j: u32, rs: f32, zero: u32) -> f32 {
  let e = row * params.c + j;
  let g = dy[e] * w[j];
  let xhat = x[e] * rs;
  return unfused(g * xhat, zero);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) l: u32) {
  let flat = flat_workgroup(wid, nwg);
  let zero = params.n >> 31u;
  let c = params.c;
  if (flat < params.n) {                         // uniform per workgroup: a row of dx
    let r = flat;
    let rs = rstd[r];
    let dot = rowsum32(l, 0u, c, r, rs, zero);
    let mu = div_ieee(dot, f32(c));
    let o = r * c;
    for (var j = l; j < c; j = j + 32u) {
      let g = dy[o + j] * w[j];
      let xhat = x[o + j] * rs;
      dx[o + j] = rs * (g - unfused(xhat * mu, zero));
    }
    return;
  }
  let j = (flat - params.n) * WG + l;            // a column of dw
  if (j >= c) { return; }
  var acc = bitcast<f32>(zero);
  if (params.accumulate == 1u) { acc = dw[j]; }
  for (var r = 0u; r < params.n; r = r + 1u) {
    let xhat = x[r * c + j] * rstd[r];
    acc = acc + unfused(dy[r * c + j] * xhat, zero);
  }
  dw[j] = acc;
}
