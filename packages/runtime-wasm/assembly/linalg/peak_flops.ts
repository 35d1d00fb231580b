// linalg.peak_flops — the multiply-add peak: 8 independent chains a = f(f(a*x) + y) per work item.
// Shapes: out f32[threads].
// Math: a_j = (j+1)/16 + (t mod 256)/4096 (exact); iters times a_j = f(f(a_j*x) + y);
//       out[t] = a_0 + a_1 + ... + a_7 summed left to right.
// Idea: four work items per f32x4 lane set, eight accumulator vectors: 16 multiplies and adds in
// flight, register-only, which is what the wasm GEMM's micro-kernel can at best issue. The
// `__part` export splits the work items over the runtime's threads (each item is independent),
// so the peak is the machine's, like the matmul it is compared with.
import { Bindings, Params } from '../generated/linalg/peak_flops';

export function linalg__peak_flops(params: usize, bindings: usize): void {
  linalg__peak_flops__part(params, bindings, 0, 1, 0);
}

/** Work items [t0, t1) of part `part` of `parts` (groups of four, so no two parts share a store). */
export function linalg__peak_flops__part(params: usize, bindings: usize, part: u32, parts: u32, _scratch: usize): void {
  const p = changetype<Params>(params);
  const threads = usize(p.threads);
  const groups = (threads + 3) >> 2;
  const per = (groups + usize(parts) - 1) / usize(parts);
  const g0 = per * usize(part);
  const g1 = min(groups, g0 + per);
  if (g0 < g1) run(p, changetype<Bindings>(bindings), g0 << 2, min(threads, g1 << 2));
}

function run(p: Params, b: Bindings, t0: usize, threads: usize): void {
  const iters = p.iters;
  const vx = f32x4.splat(p.x);
  const vy = f32x4.splat(p.y);
  for (let t: usize = t0; t < threads; t += 4) {
    // Lane l: work item t + l; its offset (t mod 256)/4096.
    let o = f32x4.splat(0);
    o = f32x4.replace_lane(o, 0, f32((t + 0) & 255) / 4096);
    o = f32x4.replace_lane(o, 1, f32((t + 1) & 255) / 4096);
    o = f32x4.replace_lane(o, 2, f32((t + 2) & 255) / 4096);
    o = f32x4.replace_lane(o, 3, f32((t + 3) & 255) / 4096);
    let a0 = f32x4.add(f32x4.splat(1.0 / 16), o);
    let a1 = f32x4.add(f32x4.splat(2.0 / 16), o);
    let a2 = f32x4.add(f32x4.splat(3.0 / 16), o);
    let a3 = f32x4.add(f32x4.splat(4.0 / 16), o);
    let a4 = f32x4.add(f32x4.splat(5.0 / 16), o);
    let a5 = f32x4.add(f32x4.splat(6.0 / 16), o);
    let a6 = f32x4.add(f32x4.splat(7.0 / 16), o);
    let a7 = f32x4.add(f32x4.splat(8.0 / 16), o);
    for (let it: u32 = 0; it < iters; it++) {
      a0 = f32x4.add(f32x4.mul(a0, vx), vy);
      a1 = f32x4.add(f32x4.mul(a1, vx), vy);
      a2 = f32x4.add(f32x4.mul(a2, vx), vy);
      a3 = f32x4.add(f32x4.mul(a3, vx), vy);
      a4 = f32x4.add(f32x4.mul(a4, vx), vy);
      a5 = f32x4.add(f32x4.mul(a5, vx), vy);
      a6 = f32x4.add(f32x4.mul(a6, vx), vy);
      a7 = f32x4.add(f32x4.mul(a7, vx), vy);
    }
    const s = f32x4.add(f32x4.add(f32x4.add(f32x4.add(f32x4.add(f32x4.add(f32x4.add(a0, a1), a2), a3), a4), a5), a6), a7);
    const dst = b.out + (t << 2);
    if (threads - t >= 4) v128.store(dst, s);
    else {
      store<f32>(dst, f32x4.extract_lane(s, 0));
      if (threads - t > 1) store<f32>(dst, f32x4.extract_lane(s, 1), 4);
      if (threads - t > 2) store<f32>(dst, f32x4.extract_lane(s, 2), 8);
    }
  }
}
