// nn.attention_backward: FlashAttention-2's backward, deterministic. With P_ij = exp(s_ij - lse_i),
// delta_i = sum over dd in order of dout_i*o_i, dP_ij = dout_i · v_j (in dd order),
// dS_ij = P_ij * (dP_ij - delta_i):
//   dq_i = scale * (sum over j = lo_i..i increasing of dS_ij * k_j);
//   dv_j = sum, dk_j = scale * sum, over the group's heads increasing, then queries i increasing
//   with lo_i <= j <= i, of P_ij * dout_i and dS_ij * q_i (one accumulator across heads).
// Shapes: q, o, dout, dq f32[B, T, H, D]; k, v, dk, dv f32[B, T, Hkv, D]; pos i32[B, T];
// lse, delta f32[B, H, T] (delta is scratch).
// Idea: two passes of one dispatch (lib/passes.wgsl). Pass 0 writes delta, one invocation per
// query row. Pass 1 has two kinds of workgroup, each the single owner of its outputs (no atomics):
// dq workgroups own R queries of one head (rows) and walk key tiles of 64 (columns) in order;
// dk/dv workgroups own R keys of one kv head (rows) and walk the group's heads, then query tiles
// of 64 (columns), in order. Both run the same tile step: (A) s and dP for a 4-row x 4-column
// register block per invocation, 8 dims of each operand staged at a time; (B) P and dS (masked
// entries exactly +0, which add nothing) into workgroup memory; (C) the row outputs += P or dS
// times the column operand, a 4-row x 4-dim register block per invocation, accumulated over the
// columns in order. No T x T memory: one 64 x R tile of P and of dS.
// #include "lib/grid.wgsl"
// #include "lib/passes.wgsl"
// #include "lib/exp.wgsl"
// #include "lib/unfused.wgsl"
// #include "lib/attention_tiles.wgsl"

override WG: u32 = 64u;                          // must be 64 (the register blocks fill it)

const COL_TILE = 64u;
const DC = 8u;

// Step A: row operands [DC][R/4] at 0 and 32, column operands [DC][16] at 64 and 192.
// Step C: column operands [cc][ceil(D/4)] at 0 (and 160 for the second one of dk/dv).
var<workgroup> stage: array<vec4<f32>, 320>;
var<workgroup> pt: array<vec4<f32>, 256>;        // P  [64 columns][R/4] (dk/dv only)
var<workgroup> dst: array<vec4<f32>, 256>;       // dS [64 columns][R/4]

fn q_off(bb: u32, i: u32, hh: u32) -> u32 { return ((bb * params.t + i) * params.h + hh) * params.d; }
fn k_off(bb: u32, j: u32, g: u32) -> u32 { return ((bb * params.t + j) * params.h_kv + g) * params.d; }
fn l_off(bb: u32, hh: u32, i: u32) -> u32 { return (bb * params.h + hh) * params.t + i; }

// P and dS of one entry (query i, key j); +0, +0 where the mask excludes it.
fn p_ds(x: f32, y: f32, i: u32, j: u32, lo: u32, li: u32) -> vec2<f32> {
  if (i >= params.t || j >= params.t || j < lo || j > i) { return vec2<f32>(0.0); }
  let p = exp_f32(x * params.scale - lse[li]);
  return vec2<f32>(p, p * (y - delta[li]));
}

// delta_i = sum over dd in order of dout_i[dd] * o_i[dd], for e = (bb * h + hh) * t + i.
fn delta_row(e: u32, zero: u32) -> f32 {
  let t = params.t;
  let i = e % t;
  let bh = e / t;
  let base = q_off(bh / params.h, i, bh % params.h);
  var s = bitcast<f32>(zero);
  for (var dd = 0u; dd < params.d; dd = dd + 1u) { s = s + unfused(dout[base + dd] * o[base + dd], zero); }
  return s;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) l: u32) {
  let t = params.t;
  let d = params.d;
  let zero = t >> 31u;
  let fzero = bitcast<f32>(zero);
  let flat = flat_workgroup(wid, nwg);

  if (pass_info.index == 0u) {                   // delta, one invocation per query row
    let e = flat * WG + l;
    if (e < params.b * params.h * t) { delta[e] = delta_row(e, zero); }
    return;                                      // uniform: the pass index is
  }

  let rows = attn_rows();
  let rq = rows / 4u;
  let ncb = attn_col_blocks();
  let tiles = (t + rows - 1u) / rows;
  let group = params.h / params.h_kv;
  let n_dq = params.b * params.h * tiles;
  let is_dq = flat < n_dq;
  var bb: u32;
  var head: u32;                                 // hh for dq, g for dk/dv
  var row0: u32;
  if (is_dq) {
    bb = flat / (params.h * tiles);
    head = (flat / tiles) % params.h;
    row0 = (flat % tiles) * rows;
  } else {
    let f = flat - n_dq;
    if (f >= params.b * params.h_kv * tiles) { return; }   // uniform per workgroup
    bb = f / (params.h_kv * tiles);
    head = (f / tiles) % params.h_kv;
    row0 = (f % tiles) * rows;
  }
  let row_end = min(row0 + rows, t);

  // Rows' key ranges (dq: the queries'; unused for dk/dv, whose columns are queries).
  var lo_r: array<u32, 16>;
  var min_lo = 0xffffffffu;
  if (is_dq) {
    for (var r = 0u; r < rows; r = r + 1u) {
      if (row0 + r < t) { lo_r[r] = attn_lo(bb, row0 + r); min_lo = min(min_lo, lo_r[r]); }
    }
  }

  let sk = l % 16u;                              // step A/B: columns 4*sk.., rows 4*sq..
  let sq = l / 16u;
  let s_on = sq < rq;
  let oc = l % ncb;                              // step C: dims 4*oc.., rows 4*oq..
  let oq = l / ncb;
  let o_on = oq < rq;
  var a0 = vec4<f32>(fzero);                     // dq, or dk
  var a1 = a0;
  var a2 = a0;
  var a3 = a0;
  var b0 = a0;                                   // dv
  var b1 = a0;
  var b2 = a0;
  var b3 = a0;

  // The walk: dq over key tiles from min_lo / 64; dk/dv over heads, then query tiles from row0.
  var n_steps: u32;
  var tiles_per_head = 0u;
  if (is_dq) {
    n_steps = (row_end - 1u) / COL_TILE - min_lo / COL_TILE + 1u;
  } else {
    tiles_per_head = (t - row0 + COL_TILE - 1u) / COL_TILE;
    n_steps = group * tiles_per_head;
  }
  for (var step = 0u; step < n_steps; step = step + 1u) {
    var hh: u32;
    var g: u32;
    var c0: u32;
    if (is_dq) {
      hh = head;
      g = head / group;
      c0 = (min_lo / COL_TILE + step) * COL_TILE;
    } else {
      g = head;
      hh = head * group + step / tiles_per_head;
      c0 = row0 + (step % tiles_per_head) * COL_TILE;
    }
    // Skip a tile without a single unmasked entry (the same test in every invocation).
    var seen = false;
    if (is_dq) {
      for (var r = 0u; r < rows; r = r + 1u) {
        let i = row0 + r;
        if (i < t && lo_r[r] < c0 + COL_TILE && c0 <= i) { seen = true; }
      }
    } else {
      for (var c = 0u; c < COL_TILE; c = c + 1u) {
        let i = c0 + c;
        if (i < t && attn_lo(bb, i) < row_end) { seen = true; }
      }
    }
    if (!seen) { continue; }

    // (A) x = q·k and y = dout·v for the block: rows 4*sq.., columns 4*sk...
    var x0 = vec4<f32>(fzero);
    var x1 = x0;
    var x2 = x0;
    var x3 = x0;
    var y0 = x0;
    var y1 = x0;
    var y2 = x0;
    var y3 = x0;
    for (var dc = 0u; dc < d; dc = dc + DC) {
      let dn = min(DC, d - dc);
      workgroupBarrier();
      for (var e = l; e < rows * DC; e = e + WG) {
        let r = e / DC;
        let dd = e % DC;
        var va = 0.0;
        var vb = 0.0;
        if (row0 + r < t && dd < dn) {
          if (is_dq) {
            let off = q_off(bb, row0 + r, hh) + dc + dd;
            va = q[off];
            vb = dout[off];
          } else {
            let off = k_off(bb, row0 + r, g) + dc + dd;
            va = k[off];
            vb = v[off];
          }
        }
        stage[dd * rq + r / 4u][r % 4u] = va;
        stage[32u + dd * rq + r / 4u][r % 4u] = vb;
      }
      for (var e = l; e < COL_TILE * DC; e = e + WG) {
        let c = e / DC;
        let dd = e % DC;
        var va = 0.0;
        var vb = 0.0;
        if (c0 + c < t && dd < dn) {
          if (is_dq) {
            let off = k_off(bb, c0 + c, g) + dc + dd;
            va = k[off];
            vb = v[off];
          } else {
            let off = q_off(bb, c0 + c, hh) + dc + dd;
            va = q[off];
            vb = dout[off];
          }
        }
        stage[64u + dd * 16u + c / 4u][c % 4u] = va;
        stage[192u + dd * 16u + c / 4u][c % 4u] = vb;
      }
      workgroupBarrier();
      if (s_on) {
        for (var dd = 0u; dd < dn; dd = dd + 1u) {
          let ra = stage[dd * rq + sq];
          let rb = stage[32u + dd * rq + sq];
          let ca = stage[64u + dd * 16u + sk];
          let cb = stage[192u + dd * 16u + sk];
          x0 = x0 + unfused4(vec4<f32>(ra.x) * ca, zero);
          x1 = x1 + unfused4(vec4<f32>(ra.y) * ca, zero);
          x2 = x2 + unfused4(vec4<f32>(ra.z) * ca, zero);
          x3 = x3 + unfused4(vec4<f32>(ra.w) * ca, zero);
          y0 = y0 + unfused4(vec4<f32>(rb.x) * cb, zero);
          y1 = y1 + unfused4(vec4<f32>(rb.y) * cb, zero);
          y2 = y2 + unfused4(vec4<f32>(rb.z) * cb, zero);
          y3 = y3 + unfused4(vec4<f32>(rb.w) * cb, zero);
        }
      }
    }

    // (B) P and dS of the block into pt / dst [column][R/4].
    if (s_on) {
      for (var c = 0u; c < 4u; c = c + 1u) {
        let col = 4u * sk + c;
        var pv = vec4<f32>(0.0);
        var dv4 = vec4<f32>(0.0);
        for (var r = 0u; r < 4u; r = r + 1u) {
          let row = 4u * sq + r;
          var xr = x0[c];
          var yr = y0[c];
          if (r == 1u) { xr = x1[c]; yr = y1[c]; }
          if (r == 2u) { xr = x2[c]; yr = y2[c]; }
          if (r == 3u) { xr = x3[c]; yr = y3[c]; }
          var e: vec2<f32>;
          if (is_dq) {
            let i = row0 + row;
            e = p_ds(xr, yr, i, c0 + col, lo_r[min(row, 15u)], l_off(bb, hh, min(i, t - 1u)));
          } else {
            let i = c0 + col;
            let lo = attn_lo(bb, min(i, t - 1u));
            e = p_ds(xr, yr, i, row0 + row, lo, l_off(bb, hh, min(i, t - 1u)));
          }
          pv[r] = e.x;
          dv4[r] = e.y;
        }
        pt[col * rq + sq] = pv;
        dst[col * rq + sq] = dv4;
      }
    }

    // (C) Row outputs += (dS or P) x column operand, over the columns in order, cc at a time.
    let cc = select(pow2_floor(min(COL_TILE, 160u / ncb)), pow2_floor(min(COL_TILE, 320u / ncb)), is_dq);
    for (var cs = 0u; cs < COL_TILE; cs = cs + cc) {
      workgroupBarrier();
      for (var e = l; e < cc * ncb * 4u; e = e + WG) {
        let c = e / (ncb * 4u);
        let dd = e % (ncb * 4u);
        var va = 0.0;
        var vb = 0.0;
        if (c0 + cs + c < t && dd < d) {
          if (is_dq) {
            va = k[k_off(bb, c0 + cs + c, g) + dd];
          } else {
            let off = q_off(bb, c0 + cs + c, hh) + dd;
            va = q[off];
            vb = dout[off];
          }
        }
        stage[c * ncb + dd / 4u][dd % 4u] = va;
        if (!is_dq) { stage[160u + c * ncb + dd / 4u][dd % 4u] = vb; }
      }
      workgroupBarrier();
      if (o_on) {
        for (var c = 0u; c < cc; c = c + 1u) {
          let ds4 = dst[(cs + c) * rq + oq];
          let va = stage[c * ncb + oc];
          a0 = a0 + unfused4(vec4<f32>(ds4.x) * va, zero);
          a1 = a1 + unfused4(vec4<f32>(ds4.y) * va, zero);
          a2 = a2 + unfused4(vec4<f32>(ds4.z) * va, zero);
          a3 = a3 + unfused4(vec4<f32>(ds4.w) * va, zero);
          if (!is_dq) {
            let p4 = pt[(cs + c) * rq + oq];
            let vb = stage[160u + c * ncb + oc];
            b0 = b0 + unfused4(vec4<f32>(p4.x) * vb, zero);
            b1 = b1 + unfused4(vec4<f32>(p4.y) * vb, zero);
            b2 = b2 + unfused4(vec4<f32>(p4.z) * vb, zero);
            b3 = b3 + unfused4(vec4<f32>(p4.w) * vb, zero);
          }
        }
      }
    }
  }

  if (!o_on) { return; }
  for (var r = 0u; r < 4u; r = r + 1u) {
    let row = row0 + 4u * oq + r;
    if (row >= t) { continue; }
    var av = a0;
    var bv = b0;
    if (r == 1u) { av = a1; bv = b1; }
    if (r == 2u) { av = a2; bv = b2; }
    if (r == 3u) { av = a3; bv = b3; }
    for (var c = 0u; c < 4u; c = c + 1u) {
      let dd = 4u * oc + c;
      if (dd >= d) { continue; }
      if (is_dq) {
        dq[q_off(bb, row, head) + dd] = params.scale * av[c];
      } else {
        dk[k_off(bb, row, head) + dd] = params.scale * av[c];
        dv[k_off(bb, row, head) + dd] = bv[c];
      }
    }
  }
}
