// optim.adamw_step: one step of PyTorch's AdamW with f32 states, per element i < n:
//   p1 = p * decay;  m1 = lerp(m, g, one_minus_beta1) (torch's two-branch lerp);
//   v1 = v * beta2 + (one_minus_beta2 * g) * g;
//   denom = sqrt(v1) / bias_c2_sqrt + eps;  p = p1 - (step_size * m1) / denom.
// Shapes: p, g, m, v f32[n] (p, m, v updated in place).
// Idea: PER elements per invocation strided by WG, every product `unfused` before the add that
// follows it (no fma). m and v use only +, -, * and are exact; p goes through WGSL's sqrt and
// `/`, which are not promised correctly rounded, so this kernel is declared approximate
// (runtime.ts APPROXIMATE_KERNELS) and p is held to the spec's `approximate` bound.
// #include "lib/grid.wgsl"
// #include "lib/unfused.wgsl"

override WG: u32 = 64u;
override PER: u32 = 8u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let base = flat_workgroup(wid, nwg) * WG * PER + t;
  let zero = params.n >> 31u;
  let w = params.one_minus_beta1;
  let small_w = abs(w) < 0.5;
  let one_minus_w = 1.0 - w;
  for (var k = 0u; k < PER; k = k + 1u) {
    let i = base + k * WG;
    if (i >= params.n) { break; }
    let gi = g[i];
    let mi = m[i];
    let p1 = p[i] * params.decay;
    let d = gi - mi;
    var m1: f32;
    if (small_w) { m1 = mi + unfused(w * d, zero); } else { m1 = gi - unfused(d * one_minus_w, zero); }
    let v1 = unfused(v[i] * params.beta2, zero) + unfused(unfused(params.one_minus_beta2 * gi, zero) * gi, zero);
    let denom = unfused(sqrt(v1) / params.bias_c2_sqrt, zero) + params.eps;
    p[i] = p1 - unfused(params.step_size * m1, zero) / denom;
    m[i] = m1;
    v[i] = v1;
  }
}
