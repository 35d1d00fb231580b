// nn.embedding — out[t] = table[ids[t]] (a row of C f32), or a row of +0.0 for an id outside [0, v).
// Shapes: ids i32[n]; table f32[v, c]; out f32[n, c].
// Idea: a bit copy per token (memory.copy of c words: NaN payloads survive), a fill for bad ids.
import { Bindings, Params } from '../generated/nn/embedding';

export function nn__embedding(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const rowBytes = usize(p.c) << 2;
  for (let t: usize = 0; t < usize(p.n); t++) {
    const id = load<i32>(b.ids + (t << 2));
    const dst = b.out + t * rowBytes;
    if (id >= 0 && u32(id) < p.v) memory.copy(dst, b.table + usize(id) * rowBytes, rowBytes);
    else memory.fill(dst, 0, rowBytes);
  }
}
