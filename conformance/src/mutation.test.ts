/**
 * The runner's self-test: a wrapper runtime corrupts a real runtime's outputs in each way that
 * matters, and the runner must report every corruption, on every kernel family, on every runtime
 * CI runs. A runner that passes a wrong kernel fails here.
 */
import { type AnyTypedArray, bindingElements, DTYPE_BYTES, getKernel, KERNELS, type Params, type Runtime, type RuntimeInfo, type Tensor } from '@kvant/abi';
import { ReferenceRuntime, referenceKernels } from '@kvant/reference';
import { createRuntime } from '@kvant/runtimes';
import { afterAll, describe, expect, it } from 'vitest';
import { CASES, type Case } from './cases/index';
import { caseInputs, describeFailure, runConformance } from './runner';

type Fault =
  /** One element one code off (the runtime declares nothing approximate). */
  | 'code off by one'
  /** Element 1 of a case whose values sit exactly on thresholds with an exact scale, moved one code, while the runtime claims approximate arithmetic for every kernel. */
  | 'threshold element moved'
  /** Every ambiguous element one code off, while claiming approximate arithmetic: only the budget can stop it. */
  | 'every ambiguous element moved'
  /** An ambiguous element moved two codes, while claiming approximate arithmetic: only one code is ever allowed. */
  | 'ambiguous element two codes off'
  | 'one ulp'
  | '-0 for +0'
  | 'NaN'
  | 'unwritten element'
  | 'byte past the count'
  | 'pad nibble';

const FAULTS: Fault[] = ['code off by one', 'threshold element moved', 'every ambiguous element moved', 'ambiguous element two codes off', 'one ulp', '-0 for +0', 'NaN', 'unwritten element', 'byte past the count', 'pad nibble'];
const APPROXIMATE_CLAIM: Fault[] = ['threshold element moved', 'every ambiguous element moved', 'ambiguous element two codes off'];

interface Pending {
  readonly id: string;
  readonly bindings: Readonly<Record<string, Tensor>>;
  readonly params: Params;
}

/** Delegates to `inner`, and corrupts one output of every dispatch as `fault` says. */
class MutatingRuntime implements Runtime {
  readonly name;
  private pending: Pending[] = [];
  /** Whether the last flush corrupted something (a fault that does not apply leaves it false). */
  injected = false;

  constructor(
    private readonly inner: Runtime,
    private readonly fault: Fault,
  ) {
    this.name = inner.name;
  }

  info(): RuntimeInfo {
    const info = this.inner.info();
    return APPROXIMATE_CLAIM.includes(this.fault) ? { ...info, approximate: KERNELS.map((k) => k.id) } : { ...info, approximate: [] };
  }
  alloc(dtype: Tensor['dtype'], shape: readonly number[]): Tensor {
    return this.inner.alloc(dtype, shape);
  }
  write(t: Tensor, data: AnyTypedArray, byteOffset?: number): void {
    this.inner.write(t, data, byteOffset);
  }
  read(t: Tensor): Promise<Uint8Array> {
    return this.inner.read(t);
  }
  free(t: Tensor): void {
    this.inner.free(t);
  }
  dispose(): void {
    this.inner.dispose();
  }
  supports(id: string): true | string {
    return this.inner.supports(id);
  }
  dispatch(id: string, bindings: Readonly<Record<string, Tensor>>, params: Params): void {
    // Deferred to flush: corrupting needs reads, which are asynchronous.
    this.pending.push({ id, bindings, params });
  }
  async flush(): Promise<void> {
    this.injected = false;
    for (const p of this.pending.splice(0)) {
      const before: Record<string, Uint8Array> = {};
      for (const [name, t] of Object.entries(p.bindings)) before[name] = await this.inner.read(t);
      this.inner.dispatch(p.id, p.bindings, p.params);
      await this.inner.flush();
      this.injected = (await this.corrupt(p, before)) || this.injected;
    }
  }

  /** Apply the fault to the first output it applies to; true when it changed something. */
  private async corrupt(p: Pending, before: Record<string, Uint8Array>): Promise<boolean> {
    const spec = getKernel(p.id);
    for (const b of spec.bindings) {
      if (b.access === 'read' || b.scratch) continue;
      const t = p.bindings[b.name];
      const bytes = await this.inner.read(t);
      const w = DTYPE_BYTES[b.dtype];
      const count = bindingElements(spec, b, p.params);
      const tol = spec.tolerance[b.name];
      const codes = tol.kind === 'codes';
      const nibble = codes && tol.packing === 'nibble';
      const f32 = b.dtype === 'f32' && tol.kind === 'exact';
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      let changed = false;
      const moveCode = (i: number, by = 1) => {
        if (nibble) {
          const j = i >> 1;
          const c = i & 1 ? bytes[j] & 15 : bytes[j] >> 4;
          const d = c + by > 15 ? c - by : c + by;
          bytes[j] = i & 1 ? (bytes[j] & 0xf0) | d : (bytes[j] & 0x0f) | (d << 4);
        } else if (w === 1) bytes[i] = bytes[i] + by > 255 ? bytes[i] - by : bytes[i] + by;
        else view.setInt32(4 * i, view.getInt32(4 * i, true) + by, true);
        changed = true;
      };
      switch (this.fault) {
        case 'code off by one':
          if (codes) moveCode(0);
          break;
        case 'threshold element moved':
          if (codes && count * (nibble ? 2 : 1) > 1) moveCode(1);
          break;
        case 'every ambiguous element moved': {
          const ref = referenceKernels[p.id];
          if (!codes || !ref.ambiguous || tol.kind !== 'codes') break;
          const inputs: Record<string, Uint8Array> = {};
          for (const r of spec.bindings) if (r.access !== 'write') inputs[r.name] = before[r.name];
          const mask = ref.ambiguous(p.params, inputs, b.name, tol.midpointEps);
          for (let i = 0; i < mask.length; i++) if (mask[i]) moveCode(i);
          break;
        }
        case 'ambiguous element two codes off':
          if (codes && count > 1) moveCode(1, 2);
          break;
        case 'one ulp': {
          if (tol.kind !== 'exact' || w !== 4) break;
          for (let i = 0; i < count && !changed; i++) {
            const v = view.getUint32(4 * i, true);
            if (b.dtype === 'f32' && (v & 0x7fffffff) > 0x7f800000) continue; // a NaN stays a NaN
            view.setUint32(4 * i, v ^ 1, true);
            changed = true;
          }
          break;
        }
        case '-0 for +0':
          if (!f32) break;
          for (let i = 0; i < count && !changed; i++) {
            if (view.getUint32(4 * i, true) === 0) {
              view.setUint32(4 * i, 0x80000000, true);
              changed = true;
            }
          }
          break;
        case 'NaN':
          if (!f32) break;
          for (let i = 0; i < count && !changed; i++) {
            if (!Number.isNaN(view.getFloat32(4 * i, true))) {
              view.setFloat32(4 * i, Number.NaN, true);
              changed = true;
            }
          }
          break;
        case 'unwritten element':
          if (b.access !== 'write') break;
          for (let k = 0; k < w; k++) bytes[k] = before[b.name][k];
          changed = true;
          break;
        case 'byte past the count':
          bytes[count * w] ^= 0x01;
          changed = true;
          break;
        case 'pad nibble':
          if (nibble && p.params.n % 2 === 1) {
            bytes[count - 1] |= 0x0f;
            changed = true;
          }
          break;
      }
      if (changed) {
        this.inner.write(t, bytes);
        return true;
      }
    }
    return false;
  }
}

/** Cases whose values lie within an ulp of thresholds, with an inexact scale: ambiguous elements everywhere. */
const nearThreshold = (c: Case) => Object.values(c.inputs).some((g) => g.gen === 'scaled_thresholds');

/** Cases whose element 1 lies exactly on a threshold (or a tie) with an exact scale. */
const onThreshold = (c: Case) => Object.values(c.inputs).some((g) => ['nf4_thresholds', 'fp4_thresholds', 'code_midpoints', 'linear_halfway'].includes(g.gen));

/** A few cases per kernel (the first three, plus every exact-threshold case): enough for every fault to meet every kernel. */
function casesFor(fault: Fault): Case[] {
  if (fault === 'threshold element moved') return CASES.filter(onThreshold);
  if (fault === 'every ambiguous element moved' || fault === 'ambiguous element two codes off') return CASES.filter(nearThreshold);
  const out: Case[] = [];
  for (const k of KERNELS) out.push(...CASES.filter((c) => c.kernel === k.id).slice(0, 3));
  out.push(...CASES.filter((c) => c.kernel.startsWith('quant.') && c.params.n % 2 === 1 && c.params.n > 1).slice(0, 6));
  // Blocks and groups of zeros, so that +0 outputs exist for the -0 fault.
  out.push(...CASES.filter((c) => Object.values(c.inputs).some((g) => g.gen === 'zero_blocks')));
  return out;
}

/** Which faults can apply to a kernel family at all (a family without codes cannot be one code off). */
function applies(fault: Fault, kernel: string): boolean {
  const spec = getKernel(kernel);
  const outs = spec.bindings.filter((b) => b.access !== 'read' && !b.scratch);
  const codes = outs.some((b) => spec.tolerance[b.name].kind === 'codes');
  const f32Exact = outs.some((b) => b.dtype === 'f32' && spec.tolerance[b.name].kind === 'exact');
  switch (fault) {
    case 'code off by one':
      return codes;
    case 'every ambiguous element moved':
    case 'ambiguous element two codes off':
      return CASES.some((c) => c.kernel === kernel && nearThreshold(c));
    case 'threshold element moved':
      return CASES.some((c) => c.kernel === kernel && onThreshold(c));
    case 'one ulp':
      return outs.some((b) => spec.tolerance[b.name].kind === 'exact' && DTYPE_BYTES[b.dtype] === 4);
    case '-0 for +0':
    case 'NaN':
      return f32Exact;
    case 'pad nibble':
      return outs.some((b) => {
        const t = spec.tolerance[b.name];
        return t.kind === 'codes' && t.packing === 'nibble';
      });
    case 'unwritten element':
      return outs.some((b) => b.access === 'write');
    default:
      return true;
  }
}

it('the near-threshold cases hold more ambiguous elements than the budget (so the budget is what stops them)', () => {
  for (const c of CASES.filter(nearThreshold)) {
    const spec = getKernel(c.kernel);
    const inputs = caseInputs(spec, c);
    const out = spec.bindings.find((b) => b.access !== 'read' && !b.scratch && spec.tolerance[b.name].kind === 'codes')!;
    const tol = spec.tolerance[out.name];
    if (tol.kind !== 'codes') throw new Error('unreachable');
    const padded: Record<string, Uint8Array> = {};
    for (const [k, v] of Object.entries(inputs)) padded[k] = Uint8Array.from({ length: Math.ceil(v.length / 4) * 4 }, (_, i) => v[i] ?? 0);
    const mask = referenceKernels[c.kernel].ambiguous!(c.params, padded, out.name, tol.midpointEps);
    const count = mask.reduce((a, m) => a + m, 0);
    expect(count, `${c.kernel} [${c.name}]`).toBeGreaterThan(4 * tol.ambiguousBudget);
    expect(mask[1], `${c.kernel} [${c.name}] element 1`).toBe(1);
  }
});

const open: Runtime[] = [];
afterAll(() => {
  for (const rt of open) rt.dispose();
});

async function make(name: string): Promise<Runtime> {
  const rt = name === 'reference' ? new ReferenceRuntime() : await createRuntime(name);
  open.push(rt);
  return rt;
}

describe.each(['reference', 'wasm', 'webgpu', 'cuda-emu'])('the runner on %s', (name) => {
  it.each(FAULTS)('reports every "%s" on every kernel family', async (fault) => {
    const inner = await make(name);
    const rt = new MutatingRuntime(inner, fault);
    const injectedIn = new Set<string>();
    const missed: string[] = [];
    await runConformance([rt], {
      cases: casesFor(fault),
      onResult: (r) => {
        const injected = rt.injected;
        rt.injected = false; // the next result (another case, or an unsupported one) starts clean
        if (!injected || r.status === 'unsupported') return;
        injectedIn.add(r.kernel);
        if (r.status !== 'fail') missed.push(`${r.kernel} [${r.case}]`);
        else expect(describeFailure(r)).toContain(r.kernel);
      },
    });
    expect(missed, `faults the runner passed on ${name}`).toEqual([]);
    // Every kernel the fault can apply to that this runtime runs (an unsupported kernel fails conformance elsewhere).
    const expected = KERNELS.filter((k) => applies(fault, k.id) && inner.supports(k.id) === true).map((k) => k.id);
    expect([...injectedIn].sort()).toEqual(expected.sort());
  });
});
