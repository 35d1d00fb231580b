// Max of u32 values over segments of `seg` consecutive invocations (seg a power of two dividing
// WG): a tree reduction in workgroup memory. Every invocation of the workgroup must call it
// (it has barriers); each gets its own segment's maximum.
var<workgroup> red_u32: array<u32, WG>;

fn segment_max(t: u32, seg: u32, v: u32) -> u32 {
  red_u32[t] = v;
  workgroupBarrier();
  for (var s = seg / 2u; s > 0u; s = s / 2u) {
    if (t % seg < s) { red_u32[t] = max(red_u32[t], red_u32[t + s]); }
    workgroupBarrier();
  }
  let r = red_u32[t - t % seg];
  workgroupBarrier();                            // the next call may overwrite red_u32
  return r;
}
