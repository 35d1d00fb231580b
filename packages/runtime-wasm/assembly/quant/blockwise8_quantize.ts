// quant.blockwise8_quantize — 8-bit blockwise quantization to the nearest of 256 sorted code
// values (the dynamic map), as bitsandbytes quantize_blockwise.
// Shapes: x f32[n]; code f32[256] (sorted ascending); q u8[n]; absmax f32[ceil(n/blocksize)].
// Math: v = x - offset; absmax_b = max |v| over the block's valid elements (NaN ignored);
//       s = v * (1 / absmax_b); q = the binary-search index of the nearest code, midpoints
//       mid_i = (code[i] + code[i+1]) * 0.5 in f32 compared strictly (ties to the lower code);
//       NaN -> 0.
// Idea: the 255 midpoints are computed once per dispatch into static scratch, then each element
// takes the same 8-step binary search as the reference (bit-identical even for an unsorted code);
// the absmax pass is SIMD (common/absmax.ts).
import { Bindings, Params } from '../generated/quant/blockwise8_quantize';
import { absmaxOf, blockEnd } from '../common/absmax';

const midpoints = memory.data(256 * 4, 16);

export function quant__blockwise8_quantize(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const n = usize(p.n);
  const blocksize = usize(p.blocksize);
  const offset = p.offset;
  const x = b.x;
  const q = b.q;
  for (let i: usize = 0; i < 255; i++) {
    const lo = load<f32>(b.code + (i << 2));
    const hi = load<f32>(b.code + (i << 2), 4);
    store<f32>(midpoints + (i << 2), (lo + hi) * 0.5);
  }
  for (let start: usize = 0, blk: usize = 0; start < n; start += blocksize, blk++) {
    const end = blockEnd(start, blocksize, n);
    const amax = absmaxOf(x, start, end, offset);
    store<f32>(b.absmax + (blk << 2), amax);
    const inv: f32 = 1 / amax;
    for (let i = start; i < end; i++) {
      const s: f32 = (load<f32>(x + (i << 2)) - offset) * inv;
      let lo: u32 = 0;
      if (!isNaN(s)) {
        let hi: u32 = 255;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (s > load<f32>(midpoints + (mid << 2))) lo = mid + 1;
          else hi = mid;
        }
      }
      store<u8>(q + i, u8(lo));
    }
  }
}
