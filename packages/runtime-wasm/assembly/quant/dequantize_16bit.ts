// quant.dequantize_16bit — out[e] = the bf16 (format 0) or f16 (format 1) element e of w, widened to
// f32 exactly (bf16: h << 16; f16 with subnormals, inf and NaN payloads; see common/half.ts).
// Shapes: w u32[ceil(n/2)] (two halves per word, element e in bits 16*(e%2)..); out f32[n].
// Idea: a streaming conversion, eight halves per 16-byte load through common/half.ts's SIMD
// widening; integer operations only (plus one exact multiply for f16 subnormals), so NaN bits survive.
import { Bindings, Params } from '../generated/quant/dequantize_16bit';
import { widenRange } from '../common/half';

export function quant__dequantize_16bit(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  widenRange(b.w, p.format, 0, usize(p.n), b.out);
}
