/**
 * Clipping by global norm with torch.nn.utils.clip_grad_norm_'s semantics:
 *
 *   total_norm = sqrt(sum over every grad of sum(g²))
 *   clip_coef  = max_norm / (total_norm + 1e-6), clamped to 1.0
 *   g          = g · clip_coef          (in place, every grad; skipped when clip_coef is 1)
 *
 * On the runtime: one linalg.sum_squares per grad accumulates into one device scalar, which is read
 * once; the scaling is linalg.scale (through a scratch tensor, since it is out of place). The
 * arithmetic on the host follows torch's f32 tensor ops: f(total + f(1e-6)), then the reciprocal
 * times max_norm (torch's `float / tensor`), clamped to 1.
 *
 * A non-finite total norm is never clipped: the grads are left as they are and the norm is
 * returned, so the caller can skip the step; with `errorIfNonfinite` a NonFiniteError names the
 * step, the first gradient holding a NaN/Inf and the element.
 */
import { ConfigError, downloadF32, NonFiniteError, reducePartials, type Runtime, type Tensor, TensorError } from '@kvant/abi';

/** Options of clipGradNorm. */
export interface ClipOptions {
  /** Throw a NonFiniteError when the total norm is NaN or Inf (torch's error_if_nonfinite; default false). */
  readonly errorIfNonfinite?: boolean;
  /** The training step, named in the error. */
  readonly step?: number;
}

const f = Math.fround;

/**
 * Clip gradients in place to a global L2 norm of at most `maxNorm`; returns the total norm before
 * clipping (an f32 value). `grads` is a list or a record name -> tensor (names appear in errors).
 */
export async function clipGradNorm(
  runtime: Runtime,
  grads: readonly Tensor[] | Readonly<Record<string, Tensor>>,
  maxNorm: number,
  normType = 2,
  options: ClipOptions = {},
): Promise<number> {
  const where = 'clipGradNorm';
  if (typeof maxNorm !== 'number' || !Number.isFinite(maxNorm) || maxNorm < 0) throw new ConfigError(`${where}: maxNorm`, 'a finite number >= 0', String(maxNorm));
  if (normType !== 2) throw new ConfigError(`${where}: normType`, '2 (the L2 norm is the one computed on the runtime)', String(normType));
  const named: [string, Tensor][] = Array.isArray(grads) ? grads.map((g, i) => [`grads[${i}]`, g]) : Object.entries(grads);
  for (const [name, g] of named) {
    if (!g || g.runtime !== runtime) throw new TensorError(`${where}: ${name}`, `a tensor on ${runtime.name}`, g ? `a tensor on ${g.runtime.name}` : String(g));
    if (g.dtype !== 'f32') throw new TensorError(`${where}: ${name}`, 'dtype f32', `dtype ${g.dtype}`);
  }
  const live = named.filter(([, g]) => g.size > 0);
  if (live.length === 0) return 0;

  const maxN = Math.max(...live.map(([, g]) => g.size));
  const out = runtime.alloc('f32', [1]);
  const partials = runtime.alloc('f32', [reducePartials(maxN)]);
  let scratch: Tensor | undefined;
  try {
    live.forEach(([, g], i) => {
      runtime.dispatch('linalg.sum_squares', { x: g, partials, out }, { n: g.size, accumulate: i === 0 ? 0 : 1 });
    });
    const sumSq = (await downloadF32(out))[0];
    const total = f(Math.sqrt(sumSq));
    if (!Number.isFinite(total)) {
      if (options.errorIfNonfinite) throw await nonFiniteError(live, total, options.step);
      return total;
    }
    const coef = Math.min(1, f(f(1 / f(total + f(1e-6))) * f(maxNorm)));
    if (coef < 1) {
      scratch = runtime.alloc('f32', [maxN]);
      for (const [, g] of live) {
        runtime.dispatch('linalg.scale', { x: g, y: scratch }, { n: g.size, alpha: coef });
        runtime.dispatch('linalg.scale', { x: scratch, y: g }, { n: g.size, alpha: 1 });
      }
      await runtime.flush();
    }
    return total;
  } finally {
    runtime.free(out);
    runtime.free(partials);
    if (scratch) runtime.free(scratch);
  }
}

/** The error for a non-finite norm: finds the first grad holding a NaN/Inf (reads grads; error path only). */
async function nonFiniteError(grads: readonly [string, Tensor][], total: number, step: number | undefined): Promise<NonFiniteError> {
  const at = step === undefined ? '' : ` at step ${step}`;
  for (const [name, g] of grads) {
    const values = await downloadF32(g);
    const i = values.findIndex((v) => !Number.isFinite(v));
    if (i >= 0) return new NonFiniteError(`clipGradNorm${at}: gradient ${name} (the total norm is ${total}; set errorIfNonfinite false to skip the step instead)`, i, values[i]);
  }
  return new NonFiniteError(`clipGradNorm${at}: the total norm (every gradient is finite, but the sum of squares overflows f32)`, -1, total);
}
