// quant.blockwise8_quantize — 8-bit blockwise quantization to the nearest of 256 sorted code
// values (the dynamic map), as bitsandbytes quantize_blockwise.
// Shapes: x f32[n]; code f32[256] (sorted ascending); q u8[n]; absmax f32[ceil(n/blocksize)].
// Math: v = x - offset; absmax_b = max |v| over the block's valid elements (NaN ignored);
//       s = v * (1 / absmax_b); q = the binary-search index of the nearest code, midpoints
//       mid_i = (code[i] + code[i+1]) * 0.5 in f32 compared strictly (ties to the lower code);
//       NaN -> 0.
// Idea: the 255 midpoints are computed once per dispatch into static scratch (with +inf as a
// 256th), then each element takes a branchless 8-step search — pos += step when s > mid[pos+step-1]
// — which counts the midpoints below s, as the reference does for a sorted code. Branchless
// because the comparisons are unpredictable: the branchy search cost ~40 ns per element in
// mispredictions. NaN compares false everywhere and lands on code 0. The absmax pass is SIMD.
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
  store<f32>(midpoints + (255 << 2), Infinity);
  for (let start: usize = 0, blk: usize = 0; start < n; start += blocksize, blk++) {
    const end = blockEnd(start, blocksize, n);
    const amax = absmaxOf(x, start, end, offset);
    store<f32>(b.absmax + (blk << 2), amax);
    const inv: f32 = 1 / amax;
    for (let i = start; i < end; i++) {
      const s: f32 = (load<f32>(x + (i << 2)) - offset) * inv;
      let pos: u32 = 0;
      for (let step: u32 = 128; step > 0; step >>= 1) {
        pos += select<u32>(step, 0, s > load<f32>(midpoints + ((pos + step - 1) << 2)));
      }
      store<u8>(q + i, u8(pos));
    }
  }
}
