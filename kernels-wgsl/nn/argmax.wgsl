// nn.argmax: ids[r] = the lowest j with x[r, j] NaN if the row has one, else the lowest j with
// x[r, j] == max (-0 == +0), as torch.argmax.
// Shapes: x f32[n, v], ids i32[n].
// Idea: one workgroup per row; invocation l keeps the best (key, index) of j = l, l + WG, ... and
// a tree in workgroup memory combines them. The key is lib/order_key.wgsl (NaN above everything):
// a larger key wins, equal keys keep the lower index, so every reduction order gives the same id.
// #include "lib/grid.wgsl"
// #include "lib/order_key.wgsl"

override WG: u32 = 64u;

var<workgroup> best_key: array<u32, WG>;
var<workgroup> best_idx: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) l: u32) {
  let r = flat_workgroup(wid, nwg);
  if (r >= params.n) { return; }                 // uniform per workgroup
  let o = r * params.v;
  var key = 0u;
  var idx = 0xffffffffu;
  for (var j = l; j < params.v; j = j + WG) {
    let kj = order_key(x[o + j]);
    if (idx == 0xffffffffu || kj > key) { key = kj; idx = j; }
  }
  best_key[l] = key;
  best_idx[l] = idx;
  workgroupBarrier();
  for (var off = WG / 2u; off > 0u; off = off / 2u) {
    if (l < off) {
      let k2 = best_key[l + off];
      let i2 = best_idx[l + off];
      let k1 = best_key[l];
      let i1 = best_idx[l];
      if (i2 != 0xffffffffu && (i1 == 0xffffffffu || k2 > k1 || (k2 == k1 && i2 < i1))) {
        best_key[l] = k2;
        best_idx[l] = i2;
      }
    }
    workgroupBarrier();
  }
  if (l == 0u) { ids[r] = i32(best_idx[0]); }
}
