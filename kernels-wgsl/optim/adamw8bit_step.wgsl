// optim.adamw8bit_step: bitsandbytes' 8-bit blockwise AdamW, blocks of 256. Per element (g finite):
//   m1 = beta1 * code_signed[m_q] * m_absmax + one_minus_beta1 * g,
//   v1 = beta2 * code_unsigned[v_q] * v_absmax + (one_minus_beta2 * g) * g,
//   p = (p - step_size * (m1 / (sqrt(v1) + eps_hat))) * decay;
// a NaN/Inf g zeroes m1 and v1 and keeps p. Per block: the new absmax of m1 and v1; the codes are
// the nearest ones to m1 / am and v1 / av (a midpoint goes down), with the sign fix for m.
// Shapes: p, g f32[n]; m_q, v_q u8[n] (4 codes per word); m_absmax, v_absmax f32[blocks];
// code_signed, code_unsigned f32[256].
// Idea: one invocation per block of 256 (no workgroup barrier but the one that publishes the
// midpoint tables): a first walk over the block finds am and av, a second one recomputes m1 and v1
// (the same operations, so the same bits), writes p and packs four codes per output word. The
// old codes and absmax are read before the invocation overwrites them, and no other invocation
// touches the block. Every product is `unfused`. The codes come from a division and p from a
// division and a square root: the kernel is declared approximate (runtime.ts).
// #include "lib/grid.wgsl"
// #include "lib/f32bits.wgsl"
// #include "lib/unfused.wgsl"

override WG: u32 = 64u;

var<workgroup> mid_signed: array<f32, 255>;
var<workgroup> mid_unsigned: array<f32, 255>;

struct Moments {
  m1: f32,
  v1: f32,
  finite: bool,
}

fn moments(i: u32, m_old_absmax: f32, v_old_absmax: f32, zero: u32) -> Moments {
  let gi = g[i];
  if (!is_finite(gi)) { return Moments(0.0, 0.0, false); }
  let mq = (m_q[i / 4u] >> (8u * (i % 4u))) & 0xffu;
  let vq = (v_q[i / 4u] >> (8u * (i % 4u))) & 0xffu;
  let m0 = code_signed[mq] * m_old_absmax;
  let v0 = code_unsigned[vq] * v_old_absmax;
  let m1 = unfused(params.beta1 * m0, zero) + unfused(params.one_minus_beta1 * gi, zero);
  let v1 = unfused(params.beta2 * v0, zero) + unfused(unfused(params.one_minus_beta2 * gi, zero) * gi, zero);
  return Moments(m1, v1, true);
}

// Number of midpoints strictly below s (NaN: 0), as quant.blockwise8_quantize.
fn nearest(s: f32, signed_map: bool) -> u32 {
  if (is_nan(s)) { return 0u; }
  if (is_inf(s)) { return select(255u, 0u, s < 0.0); }
  var lo = 0u;
  var hi = 255u;
  while (lo < hi) {
    let m = (lo + hi) >> 1u;
    var t: f32;
    if (signed_map) { t = mid_signed[m]; } else { t = mid_unsigned[m]; }
    if (s > t) { lo = m + 1u; } else { hi = m; }
  }
  return lo;
}

// v / a for a block absmax a (bits `ab`, not NaN): 0 for a zero block, as the spec says.
fn scaled(v: f32, ab: u32) -> f32 {
  if (ab == 0u) { return 0.0; }
  return v / bitcast<f32>(ab);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  for (var j = t; j < 255u; j = j + WG) {
    mid_signed[j] = (code_signed[j] + code_signed[j + 1u]) * 0.5;
    mid_unsigned[j] = (code_unsigned[j] + code_unsigned[j + 1u]) * 0.5;
  }
  workgroupBarrier();

  let blk = flat_workgroup(wid, nwg) * WG + t;
  let start = blk * 256u;
  if (start >= params.n) { return; }
  let end = min(params.n, start + 256u);
  let zero = params.n >> 31u;
  let m_old = m_absmax[blk];
  let v_old = v_absmax[blk];

  // Walk 1: the new block absmax, as max over |x| bits (a NaN never wins, like fmaxf).
  var am = 0u;
  var av = 0u;
  for (var i = start; i < end; i = i + 1u) {
    let mo = moments(i, m_old, v_old, zero);
    let a = abs_bits(mo.m1);
    let b = abs_bits(mo.v1);
    if (a <= 0x7f800000u && a > am) { am = a; }
    if (b <= 0x7f800000u && b > av) { av = b; }
  }

  // Walk 2: parameters and codes, one output word (four elements) at a time.
  for (var w = start / 4u; 4u * w < end; w = w + 1u) {
    var mw = m_q[w];
    var vw = v_q[w];
    for (var k = 0u; k < 4u; k = k + 1u) {
      let i = 4u * w + k;
      if (i >= end) { break; }                   // bytes past n keep their old value
      let mo = moments(i, m_old, v_old, zero);
      if (mo.finite) {
        let denom = sqrt(mo.v1) + params.eps_hat;
        let p1 = p[i] - unfused(params.step_size * (mo.m1 / denom), zero);
        p[i] = p1 * params.decay;
      }
      var qm = nearest(scaled(mo.m1, am), true);
      // Sign fix: the code keeps the sign of m1 (a negative or -0 m1 whose nearest code is +0.0
      // takes the smallest negative code).
      let m_neg = (bitcast<u32>(mo.m1) >> 31u) == 1u;
      let c_neg = (bitcast<u32>(code_signed[qm]) >> 31u) == 1u;
      if (m_neg != c_neg) {
        if (!m_neg && (bitcast<u32>(mo.m1) & 0x7fffffffu) != 0u && !is_nan(mo.m1)) { qm = qm + 1u; } else { qm = qm - 1u; }
      }
      let qv = nearest(scaled(mo.v1, av), false);
      let sh = 8u * k;
      mw = (mw & ~(0xffu << sh)) | ((qm & 0xffu) << sh);     // a byte, as the reference stores it
      vw = (vw & ~(0xffu << sh)) | (qv << sh);
    }
    m_q[w] = mw;
    v_q[w] = vw;
  }
  m_absmax[blk] = bitcast<f32>(am);
  v_absmax[blk] = bitcast<f32>(av);
}
