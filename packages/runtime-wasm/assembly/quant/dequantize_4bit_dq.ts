// quant.dequantize_4bit_dq — blockwise 4-bit dequantization reading double-quantized statistics.
// Shapes: packed u8[ceil(n/2)]; qabsmax u8[blocks]; nested_absmax f32[ceil(blocks/nested_blocksize)];
//         nested_code f32[256]; code f32[16]; out f32[n]; blocks = ceil(n/blocksize).
// Math: absmax_b = nested_code[qabsmax[b]] * nested_absmax[b / nested_blocksize] + offset
//       (an f32 multiply, then an f32 add; no fma); out[i] = code[nibble(i)] * absmax_{i/blocksize}.
// Idea: the absmax is reconstructed once per block, then the same SIMD table lookup as
// quant.dequantize_4bit (common/four_bit.ts), so reading double-quantized statistics costs nothing
// per element.
import { Bindings, Params } from '../generated/quant/dequantize_4bit_dq';
import { blockEnd } from '../common/absmax';
import { buildPlanes, dequant1, dequant32, plane } from '../common/four_bit';

export function quant__dequantize_4bit_dq(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const n = usize(p.n);
  const blocksize = usize(p.blocksize);
  const nestedBlocksize = usize(p.nested_blocksize);
  const offset = p.offset;
  const packed = b.packed;
  const out = b.out;
  buildPlanes(b.code);
  const p0 = plane(0);
  const p1 = plane(1);
  const p2 = plane(2);
  const p3 = plane(3);
  for (let start: usize = 0, blk: usize = 0; start < n; start += blocksize, blk++) {
    const end = blockEnd(start, blocksize, n);
    const q = usize(load<u8>(b.qabsmax + blk));
    const nested = load<f32>(b.nested_absmax + ((blk / nestedBlocksize) << 2));
    const am: f32 = load<f32>(b.nested_code + (q << 2)) * nested + offset;
    const scale = f32x4.splat(am);
    let i = start;
    for (; i + 32 <= end; i += 32) dequant32(packed + (i >> 1), out + (i << 2), p0, p1, p2, p3, scale);
    for (; i < end; i++) dequant1(packed, b.code, out, i, am);
  }
}
