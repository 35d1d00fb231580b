/**
 * Reference implementations of the `optim` family (packages/abi/src/kernels/optim.ts): one element
 * at a time in the order the spec fixes, Math.fround after every f32 operation, no fma.
 */
import { ADAMW8BIT_BLOCK, type Params } from '@kvant/abi';
import { type Buffers, f32View, type ReferenceKernels } from './buffers';
import { nearestCode } from './quant';

const f = Math.fround;

/** torch's lerp(self, end, w) for f32 without fma: small weights from self, large ones from end. */
export function lerpF32(self: number, end: number, w: number): number {
  const d = f(end - self);
  return Math.abs(w) < 0.5 ? f(self + f(w * d)) : f(end - f(d * f(1 - w)));
}

/** true for -0 and negative numbers (the IEEE sign bit). */
function signbit(x: number): boolean {
  return x < 0 || Object.is(x, -0);
}

/** The 8-bit step up to the requantization: new p, m1, v1 and each block's absmax. */
function adamw8bitUpdate(p: Params, b: Buffers) {
  const param = f32View(b.p);
  const g = f32View(b.g);
  const mAbsmax = f32View(b.m_absmax);
  const vAbsmax = f32View(b.v_absmax);
  const cs = f32View(b.code_signed);
  const cu = f32View(b.code_unsigned);
  const [beta1, beta2, w1, w2, epsHat, decay, stepSize] = [p.beta1, p.beta2, p.one_minus_beta1, p.one_minus_beta2, p.eps_hat, p.decay, p.step_size].map(f);
  const m1 = new Float32Array(p.n);
  const v1 = new Float32Array(p.n);
  const newP = new Float32Array(p.n);
  const blocks = Math.ceil(p.n / ADAMW8BIT_BLOCK);
  const am = new Float32Array(blocks);
  const av = new Float32Array(blocks);
  for (let i = 0; i < p.n; i++) {
    const blk = Math.floor(i / ADAMW8BIT_BLOCK);
    const gi = g[i];
    if (Number.isFinite(gi)) {
      const m0 = f(cs[b.m_q[i]] * mAbsmax[blk]);
      const v0 = f(cu[b.v_q[i]] * vAbsmax[blk]);
      m1[i] = f(f(beta1 * m0) + f(w1 * gi));
      v1[i] = f(f(beta2 * v0) + f(f(w2 * gi) * gi));
      const denom = f(f(Math.sqrt(v1[i])) + epsHat); // sqrtf(s2) + eps: the f32 root, then the add
      const p1 = f(param[i] - f(stepSize * f(m1[i] / denom)));
      newP[i] = f(p1 * decay);
    } else {
      m1[i] = 0;
      v1[i] = 0;
      newP[i] = param[i];
    }
    // fmaxf semantics: a NaN never wins.
    if (Math.abs(m1[i]) > am[blk]) am[blk] = Math.abs(m1[i]);
    if (Math.abs(v1[i]) > av[blk]) av[blk] = Math.abs(v1[i]);
  }
  return { m1, v1, newP, am, av };
}

/** The scaled values m1 / am and v1 / av that are requantized (0 for a block whose absmax is 0). */
function scaled(values: Float32Array, absmax: Float32Array): Float32Array {
  const s = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const a = absmax[Math.floor(i / ADAMW8BIT_BLOCK)];
    s[i] = a > 0 ? f(values[i] / a) : 0;
  }
  return s;
}

export const optimKernels: ReferenceKernels = {
  'optim.adamw_step': {
    run: (p, b) => {
      const param = f32View(b.p);
      const g = f32View(b.g);
      const m = f32View(b.m);
      const v = f32View(b.v);
      const [beta2, w1, w2, eps, decay, stepSize, bc2] = [p.beta2, p.one_minus_beta1, p.one_minus_beta2, p.eps, p.decay, p.step_size, p.bias_c2_sqrt].map(f);
      for (let i = 0; i < p.n; i++) {
        const gi = g[i];
        const p1 = f(param[i] * decay); // param.mul_(1 - lr * weight_decay)
        const m1 = lerpF32(m[i], gi, w1); // exp_avg.lerp_(grad, 1 - beta1)
        const v1 = f(f(v[i] * beta2) + f(f(w2 * gi) * gi)); // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        const denom = f(f(f(Math.sqrt(v1)) / bc2) + eps); // (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps): each an f32 op
        param[i] = f(p1 - f(f(stepSize * m1) / denom)); // param.addcdiv_(exp_avg, denom, value=-step_size)
        m[i] = m1;
        v[i] = v1;
      }
    },
  },

  'optim.adamw8bit_step': {
    run: (p, b) => {
      const { m1, v1, newP, am, av } = adamw8bitUpdate(p, b);
      const cs = f32View(b.code_signed).subarray(0, 256);
      const cu = f32View(b.code_unsigned).subarray(0, 256);
      const sm = scaled(m1, am);
      const sv = scaled(v1, av);
      for (let i = 0; i < p.n; i++) {
        let q = nearestCode(cs, sm[i]);
        // Sign fix (bitsandbytes): keep the sign of m through quantization.
        if (signbit(cs[q]) !== signbit(m1[i])) q += m1[i] > 0 ? 1 : -1;
        b.m_q[i] = q;
        b.v_q[i] = nearestCode(cu, sv[i]);
      }
      f32View(b.p).set(newP);
      f32View(b.m_absmax).set(am);
      f32View(b.v_absmax).set(av);
    },
    ambiguous: (p, b, output, eps) => {
      // The codes depend on one division (m1 / am, v1 / av): an element whose scaled value lies
      // within eps of a midpoint may round either way on a runtime with an approximate division.
      const { m1, v1, am, av } = adamw8bitUpdate(p, b);
      const code = f32View(output === 'm_q' ? b.code_signed : b.code_unsigned).subarray(0, 256);
      const s = output === 'm_q' ? scaled(m1, am) : scaled(v1, av);
      const mask = new Uint8Array(p.n);
      const mid = (j: number) => f(f(code[j] + code[j + 1]) * 0.5);
      // Relative to the midpoint: a 2.5-ulp division moves s by at most 3 * 2^-23 * |s|, well inside eps = 2^-20.
      // (s = 0 from a zero block involves no division and is never ambiguous.)
      const near = (v: number, j: number) => j >= 0 && j < 255 && Math.abs(v - mid(j)) <= eps * Math.abs(mid(j));
      for (let i = 0; i < p.n; i++) {
        // s lies between midpoints q-1 and q of its nearest code q; those are the ones it can cross.
        const q = nearestCode(code, s[i]);
        if (near(s[i], q - 1) || near(s[i], q)) mask[i] = 1;
      }
      return mask;
    },
  },
};
