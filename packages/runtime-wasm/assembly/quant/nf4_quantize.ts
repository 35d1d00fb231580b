// quant.nf4_quantize — blockwise NF4 quantization, byte-compatible with bitsandbytes
// quantize_4bit(quant_type="nf4").
// Shapes: x f32[n]; packed u8[ceil(n/2)], byte j = code[2j] << 4 | code[2j+1];
//         absmax f32[ceil(n/blocksize)], max |x| over the block's valid elements (NaN ignored).
// Math: s = x * (1 / absmax) in f32; code = #{NF4 thresholds t : s > t}; NaN -> 0.
// Idea: 16 elements per step, each code a sum of 15 f32x4 compares; see common/four_bit.ts.
import { Bindings, Params } from '../generated/quant/nf4_quantize';
import { KIND_NF4, quantize4bit } from '../common/four_bit';

export function quant__nf4_quantize(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  quantize4bit(KIND_NF4, p.n, p.blocksize, b.x, b.packed, b.absmax);
}
