// quant.linear_dequantize — inverse of quant.linear_quantize.
// Shapes: codes u8[n]; scale f32[groups]; zero i32[groups]; out f32[n]; groups = ceil(n/group).
// Math: out[i] = f32(q[i] - zero[g]) * scale[g], g = i / group; q = codes[i] read as i8 when
//       symmetric, u8 otherwise; q - zero in wrapping i32, converted to f32, then one f32 multiply.
// Idea: the same three operations as every other runtime (i32 sub, f32.convert_i32_s, f32.mul),
// so even an out-of-range zero point gives the same bits everywhere.
import { Bindings, Params } from '../generated/quant/linear_dequantize';
import { blockEnd } from '../common/absmax';

export function quant__linear_dequantize(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const n = usize(p.n);
  const group = usize(p.group);
  const symmetric = p.symmetric == 1;
  for (let start: usize = 0, g: usize = 0; start < n; start += group, g++) {
    const end = blockEnd(start, group, n);
    const scale = load<f32>(b.scale + (g << 2));
    const zero = load<i32>(b.zero + (g << 2));
    if (symmetric) {
      for (let i = start; i < end; i++) store<f32>(b.out + (i << 2), f32(i32(load<i8>(b.codes + i)) - zero) * scale);
    } else {
      for (let i = start; i < end; i++) store<f32>(b.out + (i << 2), f32(i32(load<u8>(b.codes + i)) - zero) * scale);
    }
  }
}
