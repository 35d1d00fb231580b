// mem.copy — dst[i] = src[i] for i < words.
// Shapes: src u32[words], dst u32[words].
// Idea: one bulk-memory `memory.copy`; the engine lowers it to its optimized memmove, so this
// kernel measures the copy bandwidth the other kernels are compared with.
import { Bindings, Params } from '../generated/mem/copy';

export function mem__copy(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  memory.copy(b.dst, b.src, usize(p.words) << 2);
}
