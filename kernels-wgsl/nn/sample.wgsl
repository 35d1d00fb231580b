// nn.sample: per row r, z_j = logits[r, j] * inv_temperature; a row with a NaN or +Inf z, or with
// every z = -Inf, gives -1. Otherwise rank j by z descending (equal z, -0 == +0: lower j first),
// keep k = top_k == 0 ? v : min(top_k, v) ranks, e_r = exp(z_(r) - z_(0)), c_r = c_(r-1) + e_r in
// rank order; kp = k, or with top_p < 1 the smallest r + 1 with c_r >= top_p * c_(k-1);
// target = uniforms[r] * c_(kp-1); ids[r] = the j of the first rank r < kp with c_r > target (or of
// rank kp - 1).
// Shapes: logits f32[n, v], uniforms f32[n], ids i32[n],
// work u32[n, 2v] (scratch).
// Idea: one invocation per row. A bottom-up merge sort of the indices 0..v-1 ping-pongs between
// the two halves of the row's work; the comparison recomputes z from the logits (the same bits
// each time) and compares lib/order_key.wgsl keys, so the ranking is exact, ties and signed zeros
// included. The cumulative sums then go into the free half, read back for top-p and the draw.
// v log v steps per row: fine for generation (one row per sequence); vocabularies of 10^5 would
// want a workgroup per row.
// #include "lib/grid.wgsl"
// #include "lib/order_key.wgsl"
// #include "lib/exp.wgsl"

override WG: u32 = 64u;

fn z_of(o: u32, j: u32) -> f32 {
  let x = logits[o + j];
  if ((bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u) { return x; }   // +-Inf, NaN stay as they are
  return x * params.inv_temperature;
}

// Rank of a before rank of b: larger z first, equal z by lower index.
fn before(o: u32, a: u32, b: u32) -> bool {
  let ka = order_key(z_of(o, a));
  let kb = order_key(z_of(o, b));
  return ka > kb || (ka == kb && a < b);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let r = flat_workgroup(wid, nwg) * WG + t;
  if (r >= params.n) { return; }
  let v = params.v;
  let o = r * v;
  let w0 = 2u * r * v;                           // this row's work: [w0, w0 + v) and [w0 + v, w0 + 2v)

  var all_neg_inf = true;
  for (var j = 0u; j < v; j = j + 1u) {
    let zb = bitcast<u32>(z_of(o, j));
    if ((zb & 0x7fffffffu) > 0x7f800000u || zb == 0x7f800000u) { ids[r] = -1; return; }
    if (zb != 0xff800000u) { all_neg_inf = false; }
  }
  if (all_neg_inf) { ids[r] = -1; return; }

  // Merge sort: runs of `width` from src into dst, then swap.
  var src = w0;
  var dst = w0 + v;
  for (var j = 0u; j < v; j = j + 1u) { work[src + j] = j; }
  for (var width = 1u; width < v; width = width * 2u) {
    for (var lo = 0u; lo < v; lo = lo + 2u * width) {
      let mid = min(lo + width, v);
      let hi = min(lo + 2u * width, v);
      var a = lo;
      var b = mid;
      for (var out = lo; out < hi; out = out + 1u) {
        if (a < mid && (b >= hi || before(o, work[src + a], work[src + b]))) {
          work[dst + out] = work[src + a];
          a = a + 1u;
        } else {
          work[dst + out] = work[src + b];
          b = b + 1u;
        }
      }
    }
    let tmp = src;
    src = dst;
    dst = tmp;
  }

  // Cumulative sums c_r (as bits) into the free half, dst.
  var k = v;
  if (params.top_k != 0u) { k = min(params.top_k, v); }
  let top = z_of(o, work[src]);
  var c = 0.0;
  for (var i = 0u; i < k; i = i + 1u) {
    let z = z_of(o, work[src + i]);
    var e = 0.0;
    if (bitcast<u32>(z) != 0xff800000u) { e = exp_f32(z - top); }
    c = c + e;
    work[dst + i] = bitcast<u32>(c);
  }
  var kp = k;
  if (params.top_p < 1.0) {
    let want = params.top_p * bitcast<f32>(work[dst + k - 1u]);
    for (var i = 0u; i < k; i = i + 1u) {
      if (bitcast<f32>(work[dst + i]) >= want) { kp = i + 1u; break; }
    }
  }
  let goal = uniforms[r] * bitcast<f32>(work[dst + kp - 1u]);
  var pick = work[src + kp - 1u];
  for (var i = 0u; i < kp; i = i + 1u) {
    if (bitcast<f32>(work[dst + i]) > goal) { pick = work[src + i]; break; }
  }
  ids[r] = i32(pick);
}
