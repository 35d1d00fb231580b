// quant.fp4_quantize — blockwise FP4 quantization, byte-compatible with bitsandbytes
// quantize_4bit(quant_type="fp4").
// Shapes: x f32[n]; packed u8[ceil(n/2)], byte j = code[2j] << 4 | code[2j+1];
//         absmax f32[ceil(n/blocksize)], max |x| over the block's valid elements (NaN ignored).
// Math: s = x * (1 / absmax) in f32; code = (s < 0 ? 8 : 0) | magnitude code of the nearest FP4
//       magnitude to |s| (midpoints compared strictly); NaN -> 0.
// Idea: 16 elements per step; the magnitude rank is a sum of 7 compares, mapped to the 3-bit
// code with one i8x16.swizzle; see common/four_bit.ts.
import { Bindings, Params } from '../generated/quant/fp4_quantize';
import { KIND_FP4, quantize4bit } from '../common/four_bit';

export function quant__fp4_quantize(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  quantize4bit(KIND_FP4, p.n, p.blocksize, b.x, b.packed, b.absmax);
}
