// quant.dequantize_4bit — blockwise 4-bit (NF4 or FP4) dequantization through a 16-entry table.
// Shapes: packed u8[ceil(n/2)] (even element in the high nibble); absmax f32[ceil(n/blocksize)];
//         code f32[16]; out f32[n].
// Math: out[i] = code[nibble(i)] * absmax[i / blocksize].
// Idea: the hot kernel of a 4-bit linear layer, so it must run near copy bandwidth: per block the
// absmax is splatted once; per 32 outputs one 16-byte load of codes, then per 16 outputs four
// i8x16.swizzle lookups into the table's byte planes, interleaving shuffles, four f32x4
// multiplies and four 16-byte stores (common/four_bit.ts). On one core this runs at about the
// copy bandwidth for DRAM-sized tensors.
import { Bindings, Params } from '../generated/quant/dequantize_4bit';
import { blockEnd } from '../common/absmax';
import { buildPlanes, dequant1, dequant32, plane } from '../common/four_bit';

export function quant__dequantize_4bit(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const n = usize(p.n);
  const blocksize = usize(p.blocksize);
  const packed = b.packed;
  const out = b.out;
  buildPlanes(b.code);
  const p0 = plane(0);
  const p1 = plane(1);
  const p2 = plane(2);
  const p3 = plane(3);
  for (let start: usize = 0, blk: usize = 0; start < n; start += blocksize, blk++) {
    const end = blockEnd(start, blocksize, n);
    const am = load<f32>(b.absmax + (blk << 2));
    const scale = f32x4.splat(am);
    let i = start;
    // A block starts at a multiple of 32 elements, so 32-element steps never straddle blocks.
    for (; i + 32 <= end; i += 32) dequant32(packed + (i >> 1), out + (i << 2), p0, p1, p2, p3, scale);
    for (; i < end; i++) dequant1(packed, b.code, out, i, am);
  }
}
