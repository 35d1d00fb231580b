// nn.embedding_backward — dtable[r] (+)= the sum of dout[t] over tokens t with ids[t] == r, in token order.
// Shapes: ids i32[n]; dout f32[n, c]; dtable f32[v, c] (read only when accumulate == 1).
// Math: acc = accumulate ? dtable[r, j] : +0.0; for t = 0..n-1 with ids[t] == r: acc = f(acc + dout[t, j]).
// Idea: walk the tokens in order and add each dout row into its table row (SIMD across j): every
// element of dtable still receives its terms in increasing t, so no sort is needed on one thread,
// and there are no atomics. With accumulate == 0 the table is zeroed first (+0.0 + x == x, and a
// row no token names stays +0.0).
import { Bindings, Params } from '../generated/nn/embedding_backward';
import { loadUpTo, storeUpTo } from '../common/rowsum32';

export function nn__embedding_backward(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const c = usize(p.c);
  const rowBytes = c << 2;
  if (p.accumulate == 0) memory.fill(b.dtable, 0, usize(p.v) * rowBytes);
  for (let t: usize = 0; t < usize(p.n); t++) {
    const id = load<i32>(b.ids + (t << 2));
    if (id < 0 || u32(id) >= p.v) continue;
    const src = b.dout + t * rowBytes;
    const dst = b.dtable + usize(id) * rowBytes;
    let j: usize = 0;
    for (; j + 4 <= c; j += 4) {
      const o = j << 2;
      v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
    }
    if (j < c) {
      const o = j << 2;
      const rem = isize(c - j);
      storeUpTo(dst + o, f32x4.add(loadUpTo(dst + o, rem), loadUpTo(src + o, rem)), rem);
    }
  }
}
