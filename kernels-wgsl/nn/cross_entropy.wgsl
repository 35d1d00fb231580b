// nn.cross_entropy: per row r, an online log-sum-exp over vocabulary chunks C_q of 4096:
//   cm = max over C_q (a NaN never wins), q == 0: m = cm, s = rowsum32(C_0, exp(x_j - m));
//   q > 0: mn = max(m, cm), s = s * exp(m - mn) + rowsum32(C_q, exp(x_j - mn)), m = mn;
//   lse[r] = m + log(s); loss[r] = label == ignore_index ? +0 : 0 <= label < v ?
//   (m - x_label) + log(s) : NaN.
// Shapes: logits f32[n, v], labels i32[n], loss f32[n], lse f32[n].
// Idea: one workgroup of 32 invocations per row (one per rowsum32 lane); the chunk max is taken
// over lib/order_key.wgsl keys (exact, NaN skipped on the bits) and every invocation combines the
// 32 lane maxima itself, so one chunk costs 4 barriers; exp and log are lib/exp.wgsl and
// lib/log.wgsl (within about 1 ulp).
// #include "lib/grid.wgsl"
// #include "lib/unfused.wgsl"
// #include "lib/order_key.wgsl"
// #include "lib/exp.wgsl"
// #include "lib/log.wgsl"
// #include "lib/rowsum32.wgsl"

override WG: u32 = 32u;                          // must be 32: one invocation per rowsum32 lane

const CHUNK = 4096u;
const NEG_INF_KEY = 0x007fffffu;                 // order_key(-Inf)

var<workgroup> lane_max: array<u32, 32>;

fn rowsum32_term(row: u32, j: u32, mn: f32, zero: u32) -> f32 {
  return exp_f32(logits[row * params.v + j] - mn);
}

fn key_value(k: u32) -> f32 {
  if ((k & 0x80000000u) != 0u) { return bitcast<f32>(k & 0x7fffffffu); }
  return bitcast<f32>(~k);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) l: u32) {
  let r = flat_workgroup(wid, nwg);
  if (r >= params.n) { return; }                 // uniform per workgroup
  let zero = params.n >> 31u;
  let v = params.v;
  let o = r * v;
  var m_key = NEG_INF_KEY;
  var s = 0.0;
  for (var c0 = 0u; c0 < v; c0 = c0 + CHUNK) {
    let c1 = min(v, c0 + CHUNK);
    var k = NEG_INF_KEY;
    for (var j = c0 + l; j < c1; j = j + 32u) {
      let kj = order_key(logits[o + j]);
      if (kj != 0xffffffffu && kj > k) { k = kj; }
    }
    workgroupBarrier();
    lane_max[l] = k;
    workgroupBarrier();
    var cm_key = NEG_INF_KEY;
    for (var i = 0u; i < 32u; i = i + 1u) { cm_key = max(cm_key, lane_max[i]); }
    if (c0 == 0u) {
      let mn = key_value(cm_key);
      s = rowsum32(l, c0, c1, r, mn, zero);
      m_key = cm_key;
    } else {
      let mn_key = max(m_key, cm_key);
      let mn = key_value(mn_key);
      let cs = rowsum32(l, c0, c1, r, mn, zero);
      s = unfused(s * exp_f32(key_value(m_key) - mn), zero) + cs;
      m_key = mn_key;
    }
  }
  if (l != 0u) { return; }
  let m = key_value(m_key);
  let log_s = log_f32(s);
  lse[r] = m + log_s;
  let label = labels[r];
  if (label == params.ignore_index) {
    loss[r] = 0.0;
  } else if (label >= 0 && u32(label) < v) {
    loss[r] = (m - logits[o + u32(label)]) + log_s;
  } else {
    loss[r] = bitcast<f32>(0x7fc00000u | zero);
  }
}
