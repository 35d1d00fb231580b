// The tiled matmul shared by linalg.matmul and linalg.matmul_4bit(_dq): for every output
// (batch, i, j) of an M x N result, acc = +0; for kk = 0..K-1 in order: acc = acc + A(i,kk) * B(kk,j)
// (the product rounded, then the sum: no fma); the kernel then writes acc (its alpha and beta).
//
// The including kernel defines
//   fn mm_shape() -> vec4<u32>                     (M, N, K, batches)
//   fn mm_a_k_fastest() -> bool                    A(i, kk) is contiguous along kk in memory
//   fn mm_b_k_fastest() -> bool                    B(kk, j) is contiguous along kk in memory
//   fn mm_load_a(batch: u32, i: u32, kk: u32) -> f32   (called only for i < M, kk < K)
//   fn mm_load_b(batch: u32, kk: u32, j: u32) -> f32   (called only for kk < K, j < N; a 4-bit kernel dequantizes here)
//   fn mm_store(batch: u32, i: u32, j: u32, acc: f32, zero: u32)   (called only for i < M, j < N)
//
// Idea: one workgroup per 64x64 tile of the result (one batch); 256 invocations, each a 4x4
// register block (rows 4*ty.., columns 4*tx..). K walks in tiles of 16 staged in workgroup
// memory, both k-major, so each invocation reads one vec4 of its rows and one of its columns per
// kk. Each output still sums over K in order, one kk after another: tiling K changes no rounding.
// Past the end of K both tiles hold +0 and acc + (+0 * +0) = acc (acc is never -0: it starts at
// +0, and +0 + -0 = +0), so the inner loop has no bounds test. The staging walks each operand's
// contiguous dimension fastest (coalesced on a GPU); a 4-bit B is dequantized once per element per
// 64-row band of the result, inside the staging, so a full f32 copy of W never exists. Two
// barriers per k-tile: on lavapipe each costs a coroutine switch per SIMD group, so TK = 16 keeps
// them to 2 per 16 x 64 x 64 multiply-adds.
// #include "lib/grid.wgsl"
// #include "lib/unfused.wgsl"

override WG: u32 = 256u;                         // must be (TM / 4) * (TN / 4)

const TM = 64u;
const TN = 64u;
const TK = 16u;

var<workgroup> tile_a: array<vec4<f32>, 256>;   // [TK][TM / 4]: A(row, kk) at [kk * TM/4 + row / 4][row % 4]
var<workgroup> tile_b: array<vec4<f32>, 256>;   // [TK][TN / 4]: B(kk, col) at [kk * TN/4 + col / 4][col % 4]

fn unfused4(p: vec4<f32>, zero: u32) -> vec4<f32> {
  return bitcast<vec4<f32>>(bitcast<vec4<u32>>(p) ^ vec4<u32>(zero));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let shape = mm_shape();
  let m = shape.x;
  let n = shape.y;
  let k = shape.z;
  let tiles_m = (m + TM - 1u) / TM;
  let tiles_n = (n + TN - 1u) / TN;
  let flat = flat_workgroup(wid, nwg);
  let batch = flat / (tiles_m * tiles_n);
  if (batch >= shape.w) { return; }            // uniform per workgroup: no barrier is skipped by part of it
  let tile = flat % (tiles_m * tiles_n);
  let row0 = (tile / tiles_n) * TM;
  let col0 = (tile % tiles_n) * TN;
  let zero = m >> 31u;                          // m < 2^31: a run-time 0 for `unfused`
  let a_k_fastest = mm_a_k_fastest();
  let b_k_fastest = mm_b_k_fastest();

  let tx = t % (TN / 4u);
  let ty = t / (TN / 4u);
  // Four named rows, not an array: an array indexed by a loop variable lives in memory on
  // lavapipe (a scatter and a gather per update), named vectors stay in registers.
  var acc0 = vec4<f32>(bitcast<f32>(zero));
  var acc1 = acc0;
  var acc2 = acc0;
  var acc3 = acc0;

  for (var k0 = 0u; k0 < k; k0 = k0 + TK) {
    for (var e = t; e < TK * TM; e = e + WG) {
      var row: u32;
      var kk: u32;
      if (a_k_fastest) { row = e / TK; kk = e % TK; } else { kk = e / TM; row = e % TM; }
      var v = 0.0;
      if (row0 + row < m && k0 + kk < k) { v = mm_load_a(batch, row0 + row, k0 + kk); }
      tile_a[kk * (TM / 4u) + row / 4u][row % 4u] = v;
    }
    for (var e = t; e < TK * TN; e = e + WG) {
      var col: u32;
      var kk: u32;
      if (b_k_fastest) { col = e / TK; kk = e % TK; } else { kk = e / TN; col = e % TN; }
      var v = 0.0;
      if (col0 + col < n && k0 + kk < k) { v = mm_load_b(batch, k0 + kk, col0 + col); }
      tile_b[kk * (TN / 4u) + col / 4u][col % 4u] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk = kk + 1u) {
      let av = tile_a[kk * (TM / 4u) + ty];
      let bv = tile_b[kk * (TN / 4u) + tx];
      acc0 = acc0 + unfused4(vec4<f32>(av.x) * bv, zero);
      acc1 = acc1 + unfused4(vec4<f32>(av.y) * bv, zero);
      acc2 = acc2 + unfused4(vec4<f32>(av.z) * bv, zero);
      acc3 = acc3 + unfused4(vec4<f32>(av.w) * bv, zero);
    }
    workgroupBarrier();
  }

  let i = row0 + 4u * ty;
  let j = col0 + 4u * tx;
  store_row(batch, i, j, m, n, acc0, zero);
  store_row(batch, i + 1u, j, m, n, acc1, zero);
  store_row(batch, i + 2u, j, m, n, acc2, zero);
  store_row(batch, i + 3u, j, m, n, acc3, zero);
}

fn store_row(batch: u32, i: u32, j: u32, m: u32, n: u32, acc: vec4<f32>, zero: u32) {
  if (i >= m) { return; }
  if (j < n) { mm_store(batch, i, j, acc.x, zero); }
  if (j + 1u < n) { mm_store(batch, i, j + 1u, acc.y, zero); }
  if (j + 2u < n) { mm_store(batch, i, j + 2u, acc.z, zero); }
  if (j + 3u < n) { mm_store(batch, i, j + 3u, acc.w, zero); }
}
