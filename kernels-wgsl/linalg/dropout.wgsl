// linalg.dropout: inverted dropout with a Philox 4x32-10 mask.
//   block q = i / 4 draws philox(counter (q, 0, offset_lo, offset_hi), key (seed_lo, seed_hi));
//   element i takes word i % 4 as u; y[i] = u >= threshold ? x[i] * scale : +0.0.
// Shapes: x f32[n], y f32[n].
// Idea: one Philox block (four elements) per step, PER blocks per invocation strided by WG. WGSL
// has no 32x32 -> 64-bit multiply, so the high word is built from 16-bit halves (every partial
// product fits 32 bits). A dropped element is written as the constant +0.0, never as x * 0, so a
// NaN or Inf in x cannot leak through.
// #include "lib/grid.wgsl"

override WG: u32 = 64u;
override PER: u32 = 2u;

// (hi, lo) of the full 64-bit product a * b.
fn mul_wide(a: u32, b: u32) -> vec2<u32> {
  let al = a & 0xffffu;
  let ah = a >> 16u;
  let bl = b & 0xffffu;
  let bh = b >> 16u;
  let ll = al * bl;
  let lh = al * bh;
  let hl = ah * bl;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);   // < 3 * 2^16
  let hi = ah * bh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
  return vec2<u32>(hi, a * b);
}

fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = counter;
  var k = key;
  for (var r = 0u; r < 10u; r = r + 1u) {
    if (r > 0u) { k = k + vec2<u32>(0x9e3779b9u, 0xbb67ae85u); }
    let p0 = mul_wide(0xd2511f53u, c.x);
    let p1 = mul_wide(0xcd9e8d57u, c.z);
    c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
  }
  return c;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let base = flat_workgroup(wid, nwg) * WG * PER + t;
  let blocks = (params.n + 3u) / 4u;
  let key = vec2<u32>(params.seed_lo, params.seed_hi);
  for (var s = 0u; s < PER; s = s + 1u) {
    let q = base + s * WG;
    if (q >= blocks) { break; }
    let u = philox4x32_10(vec4<u32>(q, 0u, params.offset_lo, params.offset_hi), key);
    for (var j = 0u; j < 4u; j = j + 1u) {
      let i = 4u * q + j;
      if (i >= params.n) { break; }
      if (u[j] >= params.threshold) { y[i] = x[i] * params.scale; } else { y[i] = 0.0; }
    }
  }
}
