// nn.attention_decode: nn.attention for the last t_q of t_k tokens against a KV cache. Query iq is
// token i = t_k - t_q + iq and attends cache rows j in [lo, i] (lo: its document start from
// pos[iq], then the window); s_ij = (q · k_j) * scale, the dot sequential over dd; per key tile of
// 64 from key 0, in increasing order: mn = max(m, max_j s_ij), alpha = exp(m - mn) (0 for the first
// tile), p_j = exp(s_ij - mn), l = l*alpha + (p sum in j order), acc[dd] = acc[dd]*alpha + (sum in
// j order of p_j*v_j[dd]), m = mn; then o = acc / l.
// Shapes: q, o f32[B, Tq, H, D]; k_cache, v_cache f32[B, S, Hkv, D] (rows < t_k valid); pos i32[B, Tq].
// Idea: one workgroup of 64 per query row (b, hh, iq): a decode step has one query per head, so
// there is no query tile to share. Per key tile, invocation l owns key j0 + l for the score (its
// dot in d order) and its p, and dims l, l + 64, ... of acc (d <= 256: 4 registers) for p·V, each
// a sequential sum over the tile's keys in order; every invocation folds the 64 scores into the
// max and the 64 p's into l itself (no reduction barriers). Products stay unfused
// (lib/unfused.wgsl) and exp is lib/exp.wgsl, as in nn.attention, so the two give the same bits.
// #include "lib/grid.wgsl"
// #include "lib/exp.wgsl"
// #include "lib/unfused.wgsl"

override WG: u32 = 64u;                          // must be 64: one key of the tile per invocation

const KEY_TILE = 64u;

var<workgroup> sc: array<f32, 64>;               // scores of the tile's keys, then their p

fn mask_lo(p: i32, i: u32) -> u32 {
  var lo = i32(i) - min(max(p, 0), i32(i));
  if (params.window > 0u) { lo = max(lo, i32(i) - i32(params.window) + 1); }
  return u32(lo);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) l: u32) {
  let tq = params.t_q;
  let d = params.d;
  let flat = flat_workgroup(wid, nwg);
  if (flat >= params.b * params.h * tq) { return; }   // uniform per workgroup
  let iq = flat % tq;
  let hh = (flat / tq) % params.h;
  let bb = flat / (tq * params.h);
  let g = hh / (params.h / params.h_kv);
  let i = params.t_k - tq + iq;
  let lo = mask_lo(pos[bb * tq + iq], i);
  let zero = params.t_k >> 31u;
  let qo = ((bb * tq + iq) * params.h + hh) * d;
  let row = params.h_kv * d;                       // floats between consecutive cache rows
  let kv0 = (bb * params.s * params.h_kv + g) * d; // cache row 0 of this kv head

  var acc = vec4<f32>(0.0);                        // dims l, l + 64, l + 128, l + 192
  var lsum = 0.0;
  var mval = 0.0;
  var first = true;
  for (var j0 = (lo / KEY_TILE) * KEY_TILE; j0 <= i; j0 = j0 + KEY_TILE) {
    let ja = max(lo, j0);
    let jb = min(i + 1u, j0 + KEY_TILE);
    let j = j0 + l;
    workgroupBarrier();                            // the previous tile's p are read
    if (j >= ja && j < jb) {
      var dot = 0.0;
      let ko = kv0 + j * row;
      for (var dd = 0u; dd < d; dd = dd + 1u) { dot = dot + unfused(q[qo + dd] * k_cache[ko + dd], zero); }
      sc[l] = dot * params.scale;
    }
    workgroupBarrier();
    var mt = sc[ja - j0];
    for (var jj = ja + 1u; jj < jb; jj = jj + 1u) { mt = max(mt, sc[jj - j0]); }
    var mn = mt;
    var alpha = 0.0;
    if (!first) {
      mn = max(mval, mt);
      alpha = exp_f32(mval - mn);
    }
    var pj = 0.0;
    if (j >= ja && j < jb) { pj = exp_f32(sc[l] - mn); }
    workgroupBarrier();                            // every max is taken before sc holds p
    if (j >= ja && j < jb) { sc[l] = pj; }
    workgroupBarrier();
    var ps = 0.0;
    for (var jj = ja; jj < jb; jj = jj + 1u) { ps = ps + sc[jj - j0]; }
    lsum = unfused(lsum * alpha, zero) + ps;
    for (var c = 0u; c < 4u; c = c + 1u) {
      let dd = l + 64u * c;
      if (dd < d) {
        var pv = 0.0;
        for (var jj = ja; jj < jb; jj = jj + 1u) { pv = pv + unfused(sc[jj - j0] * v_cache[kv0 + jj * row + dd], zero); }
        acc[c] = unfused(acc[c] * alpha, zero) + pv;
      }
    }
    mval = mn;
    first = false;
  }
  for (var c = 0u; c < 4u; c = c + 1u) {
    let dd = l + 64u * c;
    if (dd < d) { o[qo + dd] = acc[c] / lsum; }
  }
}
