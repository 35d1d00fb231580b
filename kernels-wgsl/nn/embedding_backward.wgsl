// nn.embedding_backward: dtable[r, j] = (accumulate ? dtable[r, j] : +0) + the dout[t, j] of every
// token t with ids[t] == r, added in increasing t (ids outside [0, v) add nothing).
// Shapes: ids i32[n], dout f32[n, c], dtable f32[v, c].
// Idea: one workgroup owns one table row r: it walks the tokens in order and, for each t naming r
// (the same test in every invocation, so no divergence), adds dout's row into its row of dtable,
// invocation l owning the columns l, l + WG, ... So every element is one sequential sum in token
// order, with no atomics and no sort. Cost: v·n id tests (cheap, cached) plus the n·c adds; a
// counting sort of the ids would drop the v·n term for very large vocabularies.
// #include "lib/grid.wgsl"

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) l: u32) {
  let r = flat_workgroup(wid, nwg);
  if (r >= params.v) { return; }
  let zero = params.n >> 31u;
  let c = params.c;
  let o = r * c;
  if (params.accumulate == 0u) {
    for (var j = l; j < c; j = j + WG) { dtable[o + j] = bitcast<f32>(zero); }   // +0, then +0 + d = d
  }
  for (var t = 0u; t < params.n; t = t + 1u) {
    if (ids[t] != i32(r)) { continue; }
    for (var j = l; j < c; j = j + WG) { dtable[o + j] = dtable[o + j] + dout[t * c + j]; }
  }
}
