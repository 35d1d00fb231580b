// quant.blockwise8_dequantize — inverse of quant.blockwise8_quantize.
// Shapes: q u8[n]; absmax f32[ceil(n/blocksize)]; code f32[256]; out f32[n].
// Math: out[i] = code[q[i]] * absmax[i / blocksize] + offset (an f32 multiply, then an f32 add).
// Idea: the absmax is hoisted per block; each element is one table load, a multiply and an add
// (scalar: wasm has no gather, and pre-scaling the 256-entry table would cost more than a block of
// 64 elements); four codes come from one 32-bit load.
import { Bindings, Params } from '../generated/quant/blockwise8_dequantize';
import { blockEnd } from '../common/absmax';

export function quant__blockwise8_dequantize(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const n = usize(p.n);
  const blocksize = usize(p.blocksize);
  const offset = p.offset;
  const code = b.code;
  const q = b.q;
  const out = b.out;
  for (let start: usize = 0, blk: usize = 0; start < n; start += blocksize, blk++) {
    const end = blockEnd(start, blocksize, n);
    const am = load<f32>(b.absmax + (blk << 2));
    let i = start;
    for (; i + 4 <= end; i += 4) {
      const w = load<u32>(q + i);
      store<f32>(out + (i << 2), load<f32>(code + ((w & 0xff) << 2)) * am + offset);
      store<f32>(out + (i << 2), load<f32>(code + (((w >> 8) & 0xff) << 2)) * am + offset, 4);
      store<f32>(out + (i << 2), load<f32>(code + (((w >> 16) & 0xff) << 2)) * am + offset, 8);
      store<f32>(out + (i << 2), load<f32>(code + ((w >> 24) << 2)) * am + offset, 12);
    }
    for (; i < end; i++) store<f32>(out + (i << 2), load<f32>(code + (usize(load<u8>(q + i)) << 2)) * am + offset);
  }
}
