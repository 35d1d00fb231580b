// nn.attention: causal grouped-query attention with packed-document masks and an optional window,
// FlashAttention-2's online softmax over key tiles of 64. Per query row i (head hh, kv head g):
// keys j in [lo_i, i]; s_ij = (q_i · k_j) * scale (the dot sequential over dd); per key tile in
// increasing order: mn = max(m, max_j s_ij), alpha = exp(m - mn) (0 for the first tile),
// p_j = exp(s_ij - mn), l = l*alpha + (p sum in j order), acc[dd] = acc[dd]*alpha + (sum in j
// order of p_j*v_j[dd]), m = mn; then o = acc / l and lse = m + log(l).
// Shapes: q, o f32[B, T, H, D]; k, v f32[B, T, Hkv, D]; pos i32[B, T]; lse f32[B, H, T].
// Idea: one workgroup of 64 per (b, hh, tile of R queries) (lib/attention_tiles.wgsl: R = 16 at
// D = 64), the queries staged once in workgroup memory; no T x T buffer, only a 64 x R tile of p.
// Per key tile: (1) scores as a small matmul, each invocation a 4-query x 4-key register block,
// K staged 16 dims at a time; (2) per-query maxima from partial maxima, alpha and mn; (3) p
// written to workgroup memory; (4) p·V as a second small matmul, each invocation a 4-query x
// 4-column register block of acc (which never leaves registers), V staged a few keys at a time.
// Masked keys (outside [lo, i], or past T) get p = +0, which adds exactly nothing to the sums (a
// sum that starts at +0 never becomes -0), so the inner loops have no tests; a tile a query does
// not see gets alpha = 1 and p = 0: an exact no-op. Maxima compare lib/order_key.wgsl keys, and
// the "m == -Inf" of the first tile is a flag, so nothing depends on Inf arithmetic.
// #include "lib/grid.wgsl"
// #include "lib/order_key.wgsl"
// #include "lib/exp.wgsl"
// #include "lib/log.wgsl"
// #include "lib/unfused.wgsl"
// #include "lib/attention_tiles.wgsl"

override WG: u32 = 64u;                          // must be 64 (the register blocks fill it)

const KEY_TILE = 64u;
const DC = 16u;                                  // dims of K per staging step

var<workgroup> qs: array<vec4<f32>, 256>;        // Q tile [D][R/4]: q(row, dd) at [dd * R/4 + row/4][row % 4]
var<workgroup> kv: array<vec4<f32>, 256>;        // K chunk [DC][64/4] or V chunk [KC][ceil(D/4)]
var<workgroup> pt: array<vec4<f32>, 256>;        // p [64 keys][R/4]: p(row, j) at [j * R/4 + row/4][row % 4]
var<workgroup> part_max: array<u32, 256>;        // [R][16]: order keys of each 4-key block's max (0: none)
var<workgroup> mn_s: array<f32, 16>;
var<workgroup> alpha_s: array<f32, 16>;
var<workgroup> l_s: array<f32, 16>;
var<workgroup> m_key_s: array<u32, 16>;          // running max as an order key; 0: no tile seen yet

fn key_value(k: u32) -> f32 {
  if ((k & 0x80000000u) != 0u) { return bitcast<f32>(k & 0x7fffffffu); }
  return bitcast<f32>(~k);
}

// Order key of the max of row s over its active keys jb..jb+3 (0 if none is active).
fn row_max_key(s: vec4<f32>, i: u32, lo: u32, jb: u32, valid: bool) -> u32 {
  var best = 0u;
  for (var c = 0u; c < 4u; c = c + 1u) {
    let j = jb + c;
    if (valid && j >= lo && j <= i) { best = max(best, order_key(s[c])); }
  }
  return best;
}

fn row_p(s: vec4<f32>, i: u32, lo: u32, jb: u32, valid: bool, mn: f32) -> vec4<f32> {
  var p = vec4<f32>(0.0);
  for (var c = 0u; c < 4u; c = c + 1u) {
    let j = jb + c;
    if (valid && j >= lo && j <= i) { p[c] = exp_f32(s[c] - mn); }
  }
  return p;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) l: u32) {
  let t = params.t;
  let d = params.d;
  let rows = attn_rows();
  let rq = rows / 4u;                            // vec4s of queries
  let ncb = attn_col_blocks();
  let tiles = (t + rows - 1u) / rows;
  let flat = flat_workgroup(wid, nwg);
  let bh = flat / tiles;
  if (bh >= params.b * params.h) { return; }     // uniform per workgroup
  let bb = bh / params.h;
  let hh = bh % params.h;
  let g = hh / (params.h / params.h_kv);
  let q0 = (flat % tiles) * rows;
  let zero = t >> 31u;
  let fzero = bitcast<f32>(zero);

  // The queries' key ranges (every invocation keeps all of them: R <= 16 reads).
  var lo_q: array<u32, 16>;
  var min_lo = 0xffffffffu;
  let q_end = min(q0 + rows, t);
  for (var r = 0u; r < rows; r = r + 1u) {
    let i = q0 + r;
    if (i < t) { lo_q[r] = attn_lo(bb, i); min_lo = min(min_lo, lo_q[r]); }
  }

  // Stage Q once: [D][R/4], d fastest in global memory.
  for (var e = l; e < rows * d; e = e + WG) {
    let r = e / d;
    let dd = e % d;
    var val = 0.0;
    if (q0 + r < t) { val = q[((bb * t + q0 + r) * params.h + hh) * d + dd]; }
    qs[dd * rq + r / 4u][r % 4u] = val;
  }
  if (l < 16u) { m_key_s[l] = 0u; }

  // Score blocks: 4 queries (sq*4..) x 4 keys (sk*4..). Output blocks: 4 queries (oq*4..) x 4 dims (oc*4..).
  let sk = l % 16u;
  let sq = l / 16u;
  let s_on = sq < rq;
  let oc = l % ncb;
  let oq = l / ncb;
  let o_on = oq < rq;
  var acc0 = vec4<f32>(fzero);
  var acc1 = acc0;
  var acc2 = acc0;
  var acc3 = acc0;
  var lsum = vec4<f32>(fzero);                   // l of queries oq*4.. (kept by oc == 0)
  let kc = pow2_floor(min(KEY_TILE, 256u / ncb));   // keys of V per staging step (divides 64)

  for (var kt = min_lo / KEY_TILE; kt * KEY_TILE < q_end; kt = kt + 1u) {
    let j0 = kt * KEY_TILE;
    // Skip a tile no query of this workgroup sees (uniform: the same test everywhere).
    var seen = false;
    for (var r = 0u; r < rows; r = r + 1u) {
      let i = q0 + r;
      if (i < t && lo_q[r] < j0 + KEY_TILE && j0 <= i) { seen = true; }
    }
    if (!seen) { continue; }

    // (1) Scores, the dot over dd in order, DC dims of K at a time.
    var s0 = vec4<f32>(fzero);
    var s1 = s0;
    var s2 = s0;
    var s3 = s0;
    for (var dc = 0u; dc < d; dc = dc + DC) {
      let dn = min(DC, d - dc);
      workgroupBarrier();
      for (var e = l; e < KEY_TILE * DC; e = e + WG) {
        let j = e / DC;
        let dd = e % DC;
        var val = 0.0;
        if (j0 + j < t && dd < dn) { val = k[((bb * t + j0 + j) * params.h_kv + g) * d + dc + dd]; }
        kv[dd * 16u + j / 4u][j % 4u] = val;
      }
      workgroupBarrier();
      if (s_on) {
        for (var dd = 0u; dd < dn; dd = dd + 1u) {
          let qv = qs[(dc + dd) * rq + sq];
          let kv4 = kv[dd * 16u + sk];
          s0 = s0 + unfused4(vec4<f32>(qv.x) * kv4, zero);
          s1 = s1 + unfused4(vec4<f32>(qv.y) * kv4, zero);
          s2 = s2 + unfused4(vec4<f32>(qv.z) * kv4, zero);
          s3 = s3 + unfused4(vec4<f32>(qv.w) * kv4, zero);
        }
      }
    }
    s0 = s0 * params.scale;
    s1 = s1 * params.scale;
    s2 = s2 * params.scale;
    s3 = s3 * params.scale;

    // (2) Partial maxima of each 4-key block, then per query: mn and alpha.
    let jb = j0 + 4u * sk;
    let r0 = 4u * sq;
    if (s_on) {
      part_max[(r0 + 0u) * 16u + sk] = row_max_key(s0, q0 + r0 + 0u, lo_q[min(r0 + 0u, 15u)], jb, q0 + r0 + 0u < t);
      part_max[(r0 + 1u) * 16u + sk] = row_max_key(s1, q0 + r0 + 1u, lo_q[min(r0 + 1u, 15u)], jb, q0 + r0 + 1u < t);
      part_max[(r0 + 2u) * 16u + sk] = row_max_key(s2, q0 + r0 + 2u, lo_q[min(r0 + 2u, 15u)], jb, q0 + r0 + 2u < t);
      part_max[(r0 + 3u) * 16u + sk] = row_max_key(s3, q0 + r0 + 3u, lo_q[min(r0 + 3u, 15u)], jb, q0 + r0 + 3u < t);
    }
    workgroupBarrier();
    if (l < rows) {
      var mt = 0u;
      for (var b = 0u; b < 16u; b = b + 1u) { mt = max(mt, part_max[l * 16u + b]); }
      let mk = m_key_s[l];
      if (mt == 0u) {                            // no key of this tile: an exact no-op
        alpha_s[l] = 1.0;
        mn_s[l] = 0.0;
      } else if (mk == 0u) {                     // the first tile: m = -Inf, alpha = 0
        alpha_s[l] = 0.0;
        mn_s[l] = key_value(mt);
        m_key_s[l] = mt;
      } else {
        let mn_key = max(mk, mt);
        let mn = key_value(mn_key);
        alpha_s[l] = exp_f32(key_value(mk) - mn);
        mn_s[l] = mn;
        m_key_s[l] = mn_key;
      }
    }
    workgroupBarrier();

    // (3) p for the score block, into pt [j][R/4].
    if (s_on) {
      let p0 = row_p(s0, q0 + r0 + 0u, lo_q[min(r0 + 0u, 15u)], jb, q0 + r0 + 0u < t, mn_s[r0 + 0u]);
      let p1 = row_p(s1, q0 + r0 + 1u, lo_q[min(r0 + 1u, 15u)], jb, q0 + r0 + 1u < t, mn_s[r0 + 1u]);
      let p2 = row_p(s2, q0 + r0 + 2u, lo_q[min(r0 + 2u, 15u)], jb, q0 + r0 + 2u < t, mn_s[r0 + 2u]);
      let p3 = row_p(s3, q0 + r0 + 3u, lo_q[min(r0 + 3u, 15u)], jb, q0 + r0 + 3u < t, mn_s[r0 + 3u]);
      let jl = 4u * sk;
      pt[(jl + 0u) * rq + sq] = vec4<f32>(p0.x, p1.x, p2.x, p3.x);
      pt[(jl + 1u) * rq + sq] = vec4<f32>(p0.y, p1.y, p2.y, p3.y);
      pt[(jl + 2u) * rq + sq] = vec4<f32>(p0.z, p1.z, p2.z, p3.z);
      pt[(jl + 3u) * rq + sq] = vec4<f32>(p0.w, p1.w, p2.w, p3.w);
    }

    // (4) pv = sum over j in order of p_j * v_j, kc keys of V at a time; then acc = acc*alpha + pv.
    var pv0 = vec4<f32>(fzero);
    var pv1 = pv0;
    var pv2 = pv0;
    var pv3 = pv0;
    var ps = vec4<f32>(fzero);
    for (var jc = 0u; jc < KEY_TILE; jc = jc + kc) {
      workgroupBarrier();
      for (var e = l; e < kc * ncb * 4u; e = e + WG) {
        let j = e / (ncb * 4u);
        let dd = e % (ncb * 4u);
        var val = 0.0;
        if (j0 + jc + j < t && dd < d) { val = v[((bb * t + j0 + jc + j) * params.h_kv + g) * d + dd]; }
        kv[j * ncb + dd / 4u][dd % 4u] = val;
      }
      workgroupBarrier();
      if (o_on) {
        for (var j = 0u; j < kc; j = j + 1u) {
          let p4 = pt[(jc + j) * rq + oq];
          let v4 = kv[j * ncb + oc];
          pv0 = pv0 + unfused4(vec4<f32>(p4.x) * v4, zero);
          pv1 = pv1 + unfused4(vec4<f32>(p4.y) * v4, zero);
          pv2 = pv2 + unfused4(vec4<f32>(p4.z) * v4, zero);
          pv3 = pv3 + unfused4(vec4<f32>(p4.w) * v4, zero);
          ps = ps + p4;
        }
      }
    }
    if (o_on) {
      let a = vec4<f32>(alpha_s[4u * oq], alpha_s[4u * oq + 1u], alpha_s[4u * oq + 2u], alpha_s[4u * oq + 3u]);
      acc0 = unfused4(acc0 * a.x, zero) + pv0;
      acc1 = unfused4(acc1 * a.y, zero) + pv1;
      acc2 = unfused4(acc2 * a.z, zero) + pv2;
      acc3 = unfused4(acc3 * a.w, zero) + pv3;
      lsum = unfused4(lsum * a, zero) + ps;
    }
  }

  // o = acc / l; lse = m + log(l). l is kept by the oc == 0 invocations: share it.
  if (o_on && oc == 0u) {
    for (var r = 0u; r < 4u; r = r + 1u) {
      let qr = 4u * oq + r;
      l_s[qr] = lsum[r];
      if (q0 + qr < t) { lse[(bb * params.h + hh) * t + q0 + qr] = key_value(m_key_s[qr]) + log_f32(lsum[r]); }
    }
  }
  workgroupBarrier();
  if (o_on) {
    store_row(bb, hh, q0 + 4u * oq + 0u, 4u * oc, acc0 / l_s[4u * oq + 0u]);
    store_row(bb, hh, q0 + 4u * oq + 1u, 4u * oc, acc1 / l_s[4u * oq + 1u]);
    store_row(bb, hh, q0 + 4u * oq + 2u, 4u * oc, acc2 / l_s[4u * oq + 2u]);
    store_row(bb, hh, q0 + 4u * oq + 3u, 4u * oc, acc3 / l_s[4u * oq + 3u]);
  }
}

fn store_row(bb: u32, hh: u32, i: u32, dd0: u32, val: vec4<f32>) {
  if (i >= params.t) { return; }
  let base = ((bb * params.t + i) * params.h + hh) * params.d;
  for (var c = 0u; c < 4u; c = c + 1u) {
    if (dd0 + c < params.d) { o[base + dd0 + c] = val[c]; }
  }
}
