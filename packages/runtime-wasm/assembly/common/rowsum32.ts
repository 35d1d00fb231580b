// lib/rowsum32 — the nn family's fixed row reduction (packages/abi/src/kernels/nn.ts):
// 32 lanes, lane l summing term(a + l), term(a + l + 32), ... from +0.0 in increasing j, then the
// tree s_l += s_(l+off) for off = 16, 8, 4, 2, 1; the sum is s_0.
//
// Idea: the 32 lanes are 8 f32x4 accumulators over 32 consecutive elements, so a kernel's loop
// body adds 8 vectors of terms per step (lane l of accumulator k is lane 4k + l of the spec). The
// short last step pads its terms with +0.0, which changes no lane: a lane starts at +0.0 and
// round-to-nearest never makes -0.0 from a sum that is not -0.0 + -0.0, so s + 0 == s bit for bit.
// The kernels keep the loop (their term differs); this file holds the tree and the tail loads.
// Nothing here writes memory, so kernels that use it may run on several threads at once.

/** rowsum32's tree over the 8 accumulators (off = 16, 8, 4, 2, 1), returning s_0. */
// @ts-ignore: decorator
@inline
export function rowsum32Tree(a0: v128, a1: v128, a2: v128, a3: v128, a4: v128, a5: v128, a6: v128, a7: v128): f32 {
  // off = 16: lanes 0..15 (vectors 0..3) += lanes 16..31 (vectors 4..7)
  const b0 = f32x4.add(a0, a4);
  const b1 = f32x4.add(a1, a5);
  const b2 = f32x4.add(a2, a6);
  const b3 = f32x4.add(a3, a7);
  // off = 8
  const c0 = f32x4.add(b0, b2);
  const c1 = f32x4.add(b1, b3);
  // off = 4
  const d0 = f32x4.add(c0, c1);
  // off = 2: lanes 0, 1 += lanes 2, 3
  const e0 = f32x4.add(d0, i32x4.shuffle(d0, d0, 2, 3, 2, 3));
  // off = 1
  return f32x4.extract_lane(e0, 0) + f32x4.extract_lane(e0, 1);
}

/** The first min(max(count, 0), 4) f32 at p in the low lanes, +0.0 above; reads nothing past them. */
// @ts-ignore: decorator
@inline
export function loadUpTo(p: usize, count: isize): v128 {
  if (count >= 4) return v128.load(p);
  let v = f32x4.splat(0);
  if (count > 0) v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (count > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (count > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

/** Store the first min(count, 4) lanes of v at p (count >= 1). */
// @ts-ignore: decorator
@inline
export function storeUpTo(p: usize, v: v128, count: isize): void {
  if (count >= 4) {
    v128.store(p, v);
    return;
  }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (count > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (count > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

/** All-ones in the lanes l < count, zero above: and-ing a term vector with it pads with +0.0. */
// @ts-ignore: decorator
@inline
export function laneMask(count: isize): v128 {
  return i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(i32(count)));
}
