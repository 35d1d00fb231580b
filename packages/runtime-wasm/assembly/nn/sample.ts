// nn.sample — temperature, top-k and top-p sampling per row from a given uniform number.
// Shapes: logits f32[n, v]; uniforms f32[n]; ids i32[n] (-1: invalid row); work u32[n, 2v] (scratch).
// Math: z_j = f(x_j * inv_temperature); rank by z descending, equal z by lower j; keep the first
//       k = top_k ? min(top_k, v) : v; c_r = f(c_(r-1) + f(exp(f(z_(r) - z_(0))))); top-p keeps
//       the smallest prefix with c_r >= f(top_p * c_(k-1)); target = f(u * c_(kp-1)); the first
//       rank with c_r > target wins. A row with a NaN or +Inf score, or only -Inf, gives -1.
// Idea: the k best (z, j) pairs are selected with a heap of size k in the row's work (its root
//       the worst kept pair), then the heap is sorted in place, best first; ranks are a total
//       order (ties broken by index), so any selection method gives the same list. exp goes
//       through f64 (expScalar), so the cumulative sums match the reference bit for bit but for
//       double-rounding accidents.
import { Bindings, Params } from '../generated/nn/sample';
import { expScalar } from '../common/expf';

// @ts-ignore: decorator
@inline
function zAt(w: usize, e: usize): f32 {
  return load<f32>(w + (e << 3));
}

// @ts-ignore: decorator
@inline
function jAt(w: usize, e: usize): u32 {
  return load<u32>(w + (e << 3), 4);
}

/** Pair a ranks after pair b (a is worse): lower z, or equal z and a higher index. */
// @ts-ignore: decorator
@inline
function worse(za: f32, ja: u32, zb: f32, jb: u32): bool {
  return za < zb || (za == zb && ja > jb);
}

/** Restore the heap (root = worst) below entry e of a heap of `size` pairs. */
function siftDown(w: usize, e0: usize, size: usize): void {
  let e = e0;
  const z = zAt(w, e);
  const j = jAt(w, e);
  for (;;) {
    let c: usize = 2 * e + 1;
    if (c >= size) break;
    if (c + 1 < size && worse(zAt(w, c + 1), jAt(w, c + 1), zAt(w, c), jAt(w, c))) c++;
    if (!worse(zAt(w, c), jAt(w, c), z, j)) break;
    store<u64>(w + (e << 3), load<u64>(w + (c << 3)));
    e = c;
  }
  store<f32>(w + (e << 3), z);
  store<u32>(w + (e << 3), j, 4);
}

export function nn__sample(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const v = usize(p.v);
  const k = p.top_k == 0 || usize(p.top_k) > v ? v : usize(p.top_k);
  for (let r: usize = 0; r < usize(p.n); r++) {
    const x = b.logits + ((r * v) << 2);
    const w = b.work + ((r * v) << 3);
    // Validity, on the scaled scores (as the reference ranks them).
    let valid = false;
    let bad = false;
    for (let j: usize = 0; j < v; j++) {
      const z = load<f32>(x + (j << 2)) * p.inv_temperature;
      if (isNaN(z) || z == Infinity) bad = true;
      if (z != -Infinity) valid = true;
    }
    if (bad || !valid) {
      store<i32>(b.ids + (r << 2), -1);
      continue;
    }
    // The k best pairs: a heap whose root is the worst pair kept.
    for (let j: usize = 0; j < v; j++) {
      const z = load<f32>(x + (j << 2)) * p.inv_temperature;
      if (j < k) {
        store<f32>(w + (j << 3), z);
        store<u32>(w + (j << 3), u32(j), 4);
        if (j == k - 1) for (let e = isize(k / 2) - 1; e >= 0; e--) siftDown(w, usize(e), k);
      } else if (worse(zAt(w, 0), jAt(w, 0), z, u32(j))) {
        store<f32>(w, z);
        store<u32>(w, u32(j), 4);
        siftDown(w, 0, k);
      }
    }
    // Sort in place: move the worst to the end, repeatedly; ranks 0..k-1 end up best first.
    for (let size = k; size > 1; size--) {
      const last = (size - 1) << 3;
      const t = load<u64>(w);
      store<u64>(w, load<u64>(w + last));
      store<u64>(w + last, t);
      siftDown(w, 0, size - 1);
    }
    // Cumulative mass, written over the scores (c_r replaces z_(r) once read).
    const top = zAt(w, 0);
    let acc: f32 = 0;
    for (let e: usize = 0; e < k; e++) {
      acc = acc + expScalar(zAt(w, e) - top);
      store<f32>(w + (e << 3), acc);
    }
    let kp = k;
    if (p.top_p < 1) {
      const want = p.top_p * zAt(w, k - 1);
      for (let e: usize = 0; e < k; e++) {
        if (zAt(w, e) >= want) {
          kp = e + 1;
          break;
        }
      }
    }
    const target = load<f32>(b.uniforms + (r << 2)) * zAt(w, kp - 1);
    let id = jAt(w, kp - 1);
    for (let e: usize = 0; e < kp; e++) {
      if (zAt(w, e) > target) {
        id = jAt(w, e);
        break;
      }
    }
    store<i32>(b.ids + (r << 2), i32(id));
  }
}
