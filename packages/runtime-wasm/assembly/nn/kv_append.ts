// nn.kv_append — append t_new rows of w words to each batch row of a cache at row t0:
// cache[(bb*s + t0 + i)*w + c] = src[(bb*t_new + i)*w + c] (bits), every other word untouched.
// Shapes: src f32[B, Tnew, W]; cache f32[B, S, W] (W = Hkv·D for a KV cache).
// Idea: per batch row the new rows are contiguous on both sides, so each is one bulk
// `memory.copy` (the engine's memmove, as mem.copy).
import { Bindings, Params } from '../generated/nn/kv_append';

export function nn__kv_append(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const rowBytes = usize(p.w) << 2;
  const chunk = usize(p.t_new) * rowBytes;
  for (let bb: usize = 0; bb < usize(p.b); bb++) {
    memory.copy(b.cache + (bb * usize(p.s) + usize(p.t0)) * rowBytes, b.src + bb * chunk, chunk);
  }
}
