// nn.kv_append: cache[(bb*s + t0 + i)*w + c] = src[(bb*t_new + i)*w + c] for bb < b, i < t_new,
// c < w; every other word of cache is left as it was.
// Shapes: src f32[B, Tnew, W]; cache f32[B, S, W] (W = Hkv·D for a KV cache).
// Idea: element-wise over src, PER words per invocation strided by WG; each value moves as its u32
// bits (no arithmetic), so NaN payloads and signed zeros arrive unchanged, as in nn.embedding.
// #include "lib/grid.wgsl"

override WG: u32 = 64u;
override PER: u32 = 8u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let chunk = params.t_new * params.w;             // words per batch row of src
  let total = params.b * chunk;
  let base = flat_workgroup(wid, nwg) * WG * PER + t;
  for (var k = 0u; k < PER; k = k + 1u) {
    let e = base + k * WG;
    if (e >= total) { break; }
    let bb = e / chunk;
    let r = e - bb * chunk;                        // (i, c) flattened: i * w + c
    cache[(bb * params.s + params.t0) * params.w + r] = bitcast<f32>(bitcast<u32>(src[e]));
  }
}
