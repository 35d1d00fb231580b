/**
 * The conformance runner: every case of every kernel on every runtime, compared with the
 * reference and with each other. Outputs are guarded by sentinel bytes to catch out-of-bounds
 * writes; every output is pre-filled with the sentinel so unwritten elements show up too.
 */
import {
  bindingElements,
  byteLengthOf,
  bytesOf,
  type DType,
  DTYPE_BYTES,
  getKernel,
  type KernelSpec,
  type Runtime,
  type Tensor,
  viewAs,
} from '@kvant/abi';
import { referenceKernels } from '@kvant/reference';
import { CASES, type Case } from './cases/index';
import { type Comparison, compareOutput } from './compare';
import { generate } from './gen';

/** Sentinel byte written around and into outputs. */
export const SENTINEL = 0xa5;
/** Guard bytes after every output (a whole number of 32-bit words). */
const GUARD_BYTES = 64;

export interface OutputResult extends Comparison {
  readonly binding: string;
  /** Guard bytes after the output that the kernel overwrote. */
  readonly guardViolations: number;
}

export interface CaseResult {
  readonly kernel: string;
  readonly case: string;
  readonly runtime: string;
  /** 'pass', 'fail' (mismatch, guard violation or error) or 'unsupported'. */
  readonly status: 'pass' | 'fail' | 'unsupported';
  readonly outputs: readonly OutputResult[];
  readonly error?: string;
  /** Runtime compared against: 'reference' or another runtime's name. */
  readonly against: string;
}

/** Outputs of one case on one runtime: raw bytes per written binding, plus guard-violation counts. */
interface RunOutput {
  readonly bytes: Record<string, Uint8Array>;
  readonly guardViolations: Record<string, number>;
}

/** Generate the input arrays of a case (deterministic). */
export function caseInputs(spec: KernelSpec, c: Case): Record<string, Uint8Array> {
  const inputs: Record<string, Uint8Array> = {};
  spec.bindings.forEach((b, i) => {
    if (b.access === 'write') return;
    const g = c.inputs[b.name];
    if (!g) throw new Error(`case ${c.kernel} "${c.name}": no generator for input ${b.name}`);
    const count = bindingElements(spec, b, c.params);
    const data = generate(g, count, c.seed * 31 + i);
    const bytes = new Uint8Array(byteLengthOf(b.dtype, count));
    bytes.set(bytesOf(data).subarray(0, count * DTYPE_BYTES[b.dtype]));
    inputs[b.name] = bytes;
  });
  return inputs;
}

async function runOn(rt: Runtime, spec: KernelSpec, c: Case, inputs: Record<string, Uint8Array>): Promise<RunOutput> {
  const tensors: Record<string, Tensor> = {};
  const guarded: Record<string, { tensor: Tensor; need: number }> = {};
  try {
    for (const b of spec.bindings) {
      const count = bindingElements(spec, b, c.params);
      if (b.access === 'read') {
        const t = rt.alloc(b.dtype, [count]);
        rt.write(t, viewAs('u8', inputs[b.name]) as Uint8Array);
        tensors[b.name] = t;
      } else {
        const need = byteLengthOf(b.dtype, count);
        const extra = Math.ceil(GUARD_BYTES / DTYPE_BYTES[b.dtype]);
        const t = rt.alloc(b.dtype, [count + extra]);
        const fill = new Uint8Array(t.byteLength).fill(SENTINEL);
        rt.write(t, fill);
        tensors[b.name] = t;
        guarded[b.name] = { tensor: t, need };
      }
    }
    rt.dispatch(spec.id, tensors, c.params);
    await rt.flush();
    const bytes: Record<string, Uint8Array> = {};
    const guardViolations: Record<string, number> = {};
    for (const [name, { tensor, need }] of Object.entries(guarded)) {
      const all = await rt.read(tensor);
      bytes[name] = all.slice(0, need);
      let v = 0;
      for (let i = need; i < all.length; i++) if (all[i] !== SENTINEL) v++;
      guardViolations[name] = v;
    }
    return { bytes, guardViolations };
  } finally {
    for (const t of Object.values(tensors)) rt.free(t);
  }
}

/** Runtimes whose division/reciprocal is not IEEE-exact (ambiguous elements may move by one code). */
function approximate(rt: Runtime): boolean {
  return rt.info().details?.approximateDivision === true;
}

export interface RunOptions {
  /** Only these kernel ids (default: all). */
  readonly kernels?: readonly string[];
  /** Called after each result (for progress output). */
  readonly onResult?: (r: CaseResult) => void;
  /** Only cases whose kernel and name match (substring). */
  readonly filter?: string;
}

/** The cases selected by options. */
export function selectCases(options: RunOptions = {}): Case[] {
  return CASES.filter(
    (c) => (!options.kernels || options.kernels.includes(c.kernel)) && (!options.filter || `${c.kernel} ${c.name}`.includes(options.filter)),
  );
}

/**
 * Run every selected case on every runtime; compare each with the reference (computed on the
 * host) and, for runtimes other than the first, with the first runtime given.
 */
export async function runConformance(runtimes: readonly Runtime[], options: RunOptions = {}): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  const push = (r: CaseResult) => {
    results.push(r);
    options.onResult?.(r);
  };
  for (const c of selectCases(options)) {
    const spec = getKernel(c.kernel);
    const inputs = caseInputs(spec, c);
    const want = referenceOutputs(spec, c, inputs);
    const ambiguity = ambiguousMasks(spec, c, inputs);
    let base: { rt: Runtime; out: RunOutput } | undefined;
    for (const rt of runtimes) {
      const ok = rt.supports(c.kernel);
      if (ok !== true) {
        push({ kernel: c.kernel, case: c.name, runtime: rt.name, status: 'unsupported', outputs: [], error: ok, against: 'reference' });
        continue;
      }
      let out: RunOutput;
      try {
        out = await runOn(rt, spec, c, inputs);
      } catch (e) {
        push({ kernel: c.kernel, case: c.name, runtime: rt.name, status: 'fail', outputs: [], error: e instanceof Error ? e.message : String(e), against: 'reference' });
        continue;
      }
      push(judge(spec, c, rt.name, 'reference', out, want, ambiguity, approximate(rt)));
      if (base) {
        const pair = judge(spec, c, rt.name, base.rt.name, out, base.out.bytes, ambiguity, approximate(rt) || approximate(base.rt));
        push(pair);
      } else {
        base = { rt, out };
      }
    }
  }
  return results;
}

function referenceOutputs(spec: KernelSpec, c: Case, inputs: Record<string, Uint8Array>): Record<string, Uint8Array> {
  const bufs: Record<string, Uint8Array> = {};
  for (const b of spec.bindings) {
    const count = bindingElements(spec, b, c.params);
    bufs[b.name] = b.access === 'read' ? inputs[b.name].slice() : new Uint8Array(byteLengthOf(b.dtype, count));
  }
  referenceKernels[spec.id].run(c.params, bufs);
  return bufs;
}

function ambiguousMasks(spec: KernelSpec, c: Case, inputs: Record<string, Uint8Array>): Record<string, Uint8Array | undefined> {
  const masks: Record<string, Uint8Array | undefined> = {};
  const ref = referenceKernels[spec.id];
  for (const [name, tol] of Object.entries(spec.tolerance)) {
    if (tol.kind !== 'codes' || !ref.ambiguous) continue;
    const bufs: Record<string, Uint8Array> = {};
    for (const [k, v] of Object.entries(inputs)) bufs[k] = v.slice();
    masks[name] = ref.ambiguous(c.params, bufs, name, tol.midpointEps);
  }
  return masks;
}

function judge(
  spec: KernelSpec,
  c: Case,
  runtime: string,
  against: string,
  out: RunOutput,
  want: Record<string, Uint8Array>,
  ambiguity: Record<string, Uint8Array | undefined>,
  allowAmbiguous: boolean,
): CaseResult {
  const outputs: OutputResult[] = [];
  for (const b of spec.bindings) {
    if (b.access === 'read') continue;
    const tol = spec.tolerance[b.name];
    const count = bindingElements(spec, b, c.params);
    const elements = tol.kind === 'codes' && tol.packing === 'nibble' ? c.params.n : count;
    const cmp = compareOutput(tol, b.dtype as DType, elements, out.bytes[b.name], want[b.name], ambiguity[b.name], allowAmbiguous);
    outputs.push({ binding: b.name, ...cmp, guardViolations: out.guardViolations[b.name] ?? 0 });
  }
  const pass = outputs.every((o) => o.mismatches === 0 && o.guardViolations === 0);
  return { kernel: c.kernel, case: c.name, runtime, status: pass ? 'pass' : 'fail', outputs, against };
}

/** A one-line description of a failed result. */
export function describeFailure(r: CaseResult): string {
  if (r.error) return `${r.kernel} [${r.case}] on ${r.runtime}: ${r.error}`;
  const bad = r.outputs
    .filter((o) => o.mismatches || o.guardViolations)
    .map((o) => {
      const parts = [];
      if (o.mismatches) parts.push(`${o.mismatches}/${o.elements} mismatches, max error ${o.maxError}${o.first ? `, first at ${o.first.index}: got ${o.first.got}, want ${o.first.want}` : ''}`);
      if (o.guardViolations) parts.push(`${o.guardViolations} guard bytes overwritten`);
      return `${o.binding}: ${parts.join('; ')}`;
    });
  return `${r.kernel} [${r.case}] on ${r.runtime} vs ${r.against}: ${bad.join(' | ')}`;
}
