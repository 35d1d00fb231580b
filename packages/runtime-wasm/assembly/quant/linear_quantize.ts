// quant.linear_quantize — affine quantization to `bits`-bit integer codes, one scale and zero
// point per group of `group` consecutive elements (group = n: one per tensor).
// Shapes: x f32[n]; codes u8[n] (one code per byte, two's complement when symmetric);
//         scale f32[groups]; zero i32[groups]; groups = ceil(n/group).
// Math (statistics over finite elements only):
//   symmetric:  qmax = 2^(bits-1) - 1, scale = amax / qmax, zero = 0, q = clamp(round(x/scale), -qmax, qmax)
//   asymmetric: lo = min(0, min x), hi = max(0, max x), qmax = 2^bits - 1, scale = (hi - lo) / qmax,
//               zero = clamp(round(-lo/scale), 0, qmax), q = clamp(round(x/scale) + zero, 0, qmax)
//   round = f32.nearest (half to even; AssemblyScript's Math.round is half up); divisions in f32.
//   scale == 0: every code is zero; NaN -> the zero point; +-Inf -> the extreme code.
// Idea: plain and exact — two passes per group (statistics, then codes); the clamp is done in f64
// before the integer conversion, so Inf and huge ratios never trap.
import { Bindings, Params } from '../generated/quant/linear_quantize';
import { blockEnd } from '../common/absmax';

export function quant__linear_quantize(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const n = usize(p.n);
  const group = usize(p.group);
  const symmetric = p.symmetric == 1;
  const x = b.x;
  for (let start: usize = 0, g: usize = 0; start < n; start += group, g++) {
    const end = blockEnd(start, group, n);
    let lo: f32 = 0;
    let hi: f32 = 0;
    let amax: f32 = 0;
    for (let i = start; i < end; i++) {
      const v = load<f32>(x + (i << 2));
      if (!isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      if (Mathf.abs(v) > amax) amax = Mathf.abs(v);
    }
    let scale: f32;
    let zero: i32 = 0;
    let qmin: f64;
    let qmax: f64;
    if (symmetric) {
      qmax = f64((1 << (p.bits - 1)) - 1);
      qmin = -qmax;
      scale = amax / f32(qmax);
    } else {
      qmax = f64((1 << p.bits) - 1);
      qmin = 0;
      scale = (hi - lo) / f32(qmax);
      if (scale != 0) zero = i32(Math.min(qmax, Math.max(0, f64(nearest<f32>(-lo / scale)))));
    }
    store<f32>(b.scale + (g << 2), scale);
    store<i32>(b.zero + (g << 2), zero);
    for (let i = start; i < end; i++) {
      const v = load<f32>(x + (i << 2));
      let q: i32 = zero;
      if (scale != 0 && !isNaN(v)) {
        const r = f64(nearest<f32>(v / scale)) + f64(zero);
        // Inf / Inf (an overflowing scale) is NaN: the reference's `NaN & 0xff` is code 0.
        q = isNaN(r) ? 0 : i32(Math.min(qmax, Math.max(qmin, r)));
      }
      store<u8>(b.codes + i, u8(q & 0xff));
    }
  }
}
