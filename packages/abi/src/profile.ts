/**
 * Where a run's time goes, kernel by kernel: `profiledRuntime(rt, profile)` makes every dispatch
 * of `rt` timed on the host and added to `profile` with the work the kernel's spec counts for it
 * (`cost`: flops and bytes). On runtimes that run a kernel inside `dispatch` (wasm, with its
 * threads; cuda-emu; reference) that is the kernel's time. On webgpu and cuda a dispatch only
 * enqueues the kernel, so the times are what the host spent enqueuing (`hostOnly`), not the GPU's.
 */
import { getKernel } from './kernels/index';
import type { Runtime } from './runtime';
import type { Params } from './spec';

/** The dispatches of one kernel. */
export interface KernelTime {
  readonly kernel: string;
  readonly calls: number;
  /** Host milliseconds inside `dispatch`. */
  readonly ms: number;
  /** The spec's cost, summed over the calls. */
  readonly flops: number;
  readonly bytes: number;
}

/** Runtimes whose `dispatch` returns before the kernel has run. */
const ASYNC_RUNTIMES: ReadonlySet<string> = new Set(['webgpu', 'cuda']);

export class DispatchProfile {
  private readonly kernels = new Map<string, { calls: number; ms: number; flops: number; bytes: number }>();
  /** The profiled runtime's times are enqueue times only (webgpu, cuda). */
  hostOnly = false;

  /** Add one dispatch of `kernel` that took `ms`. */
  record(kernel: string, ms: number, params: Params): void {
    let k = this.kernels.get(kernel);
    if (!k) {
      k = { calls: 0, ms: 0, flops: 0, bytes: 0 };
      this.kernels.set(kernel, k);
    }
    const cost = getKernel(kernel).cost(params);
    k.calls++;
    k.ms += ms;
    k.flops += cost.flops;
    k.bytes += cost.bytes;
  }

  /** Every kernel dispatched, the most time first. */
  rows(): KernelTime[] {
    return [...this.kernels].map(([kernel, k]) => ({ kernel, ...k })).sort((a, b) => b.ms - a.ms || a.kernel.localeCompare(b.kernel));
  }

  /** Host milliseconds inside `dispatch`, all kernels. */
  totalMs(): number {
    let t = 0;
    for (const k of this.kernels.values()) t += k.ms;
    return t;
  }

  /** Forget what was recorded (e.g. after a warm-up). */
  reset(): void {
    this.kernels.clear();
  }
}

/**
 * Time every dispatch of `rt` into `profile`, in place: `rt.dispatch` is replaced by a timing
 * wrapper, so tensors, identity checks and the runtime's own properties stay as they were.
 * Returns `rt`.
 */
export function profiledRuntime<R extends Runtime>(rt: R, profile: DispatchProfile): R {
  profile.hostOnly = ASYNC_RUNTIMES.has(rt.name);
  const inner = rt.dispatch.bind(rt);
  rt.dispatch = (kernelId, bindings, params) => {
    const started = performance.now();
    inner(kernelId, bindings, params);
    profile.record(kernelId, performance.now() - started, params);
  };
  return rt;
}
