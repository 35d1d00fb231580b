/**
 * The conformance runner: every case of every kernel on every runtime, compared with the
 * reference and with each other. The one harness: the tests of every runtime, the CLI, the kit,
 * the browser page and the benchmarks all run kernels against the reference through it.
 *
 * How a case runs on a runtime (`runOn`):
 * - every binding gets GUARD_BYTES more than it needs, starting right after its last element
 *   (not after the 4-byte padding): those bytes must come back untouched, on inputs too;
 * - a write-only output starts filled with a sentinel; the case runs twice, with two different
 *   sentinels, and the outputs must not differ between the runs — so an element the kernel does
 *   not write shows up even where a sentinel happens to equal a valid code;
 * - inputs must come back unchanged.
 * Then `judge` compares each output with the reference under the spec's tolerance. Ambiguous
 * elements may move by one code only on a runtime that declares the kernel approximate, only
 * where the reference proves them ambiguous, and only within the spec's per-case budget.
 */
import { bindingElements, type BindingSpec, bytesOf, DTYPE_BYTES, getKernel, type KernelSpec, type Runtime, type Tensor, type Tolerance } from '@kvant/abi';
import { referenceKernels } from '@kvant/reference';
import { CASES, type Case } from './cases/index';
import { type Comparison, compareOutput } from './compare';
import { generate } from './gen';

/** The two sentinel patterns outputs start filled with (and guards hold). */
export const SENTINELS = [0xa5, 0x5a] as const;
/** Guard bytes after every binding's last element. */
const GUARD_BYTES = 64;

export interface OutputResult extends Comparison {
  readonly binding: string;
  /** Guard bytes after the output's last element that the kernel overwrote. */
  readonly guardViolations: number;
  /** Bytes of the output that came out different with a different starting sentinel: never written (or read before written). */
  readonly unwritten: number;
}

export interface CaseResult {
  readonly kernel: string;
  readonly case: string;
  readonly runtime: string;
  /** 'pass'; 'fail' (mismatch, guard violation, changed input, unwritten output or error); 'unsupported'. */
  readonly status: 'pass' | 'fail' | 'unsupported';
  readonly outputs: readonly OutputResult[];
  /** Input bindings the kernel changed (their bytes, or the guard bytes after them). */
  readonly inputsChanged?: readonly string[];
  readonly error?: string;
  /** Runtime compared against: 'reference' or another runtime's name. */
  readonly against: string;
}

/** One case's outputs on one runtime. */
interface RunOutput {
  /** The defined bytes of each written binding (first run). */
  readonly bytes: Record<string, Uint8Array>;
  readonly guardViolations: Record<string, number>;
  readonly unwritten: Record<string, number>;
  readonly inputsChanged: string[];
}

/** Bytes a binding's elements occupy (not padded): what is compared; guards start right after. */
function definedBytes(spec: KernelSpec, b: BindingSpec, c: Case): number {
  return bindingElements(spec, b, c.params) * DTYPE_BYTES[b.dtype];
}

/** Generate the input arrays of a case (deterministic): every binding the kernel reads, readwrite ones included. */
export function caseInputs(spec: KernelSpec, c: Case): Record<string, Uint8Array> {
  const inputs: Record<string, Uint8Array> = {};
  spec.bindings.forEach((b, i) => {
    if (b.access === 'write' || b.scratch) return;
    const g = c.inputs[b.name];
    if (!g) throw new Error(`case ${c.kernel} "${c.name}": no generator for input ${b.name}`);
    const count = bindingElements(spec, b, c.params);
    const data = generate(g, count, c.seed * 31 + i);
    const bytes = new Uint8Array(count * DTYPE_BYTES[b.dtype]);
    bytes.set(bytesOf(data).subarray(0, bytes.length));
    inputs[b.name] = bytes;
  });
  return inputs;
}

async function runOnce(rt: Runtime, spec: KernelSpec, c: Case, inputs: Record<string, Uint8Array>, sentinel: number) {
  const tensors: Record<string, Tensor> = {};
  const layout: Record<string, { need: number; initial: Uint8Array }> = {};
  try {
    for (const b of spec.bindings) {
      const need = definedBytes(spec, b, c);
      const t = rt.alloc(b.dtype, [bindingElements(spec, b, c.params) + Math.ceil(GUARD_BYTES / DTYPE_BYTES[b.dtype])]);
      // Write-only outputs and scratch start as the sentinel; inputs (readwrite too) as the case's data.
      const initial = new Uint8Array(t.byteLength).fill(sentinel);
      if (b.access !== 'write' && !b.scratch) initial.set(inputs[b.name]);
      rt.write(t, initial);
      tensors[b.name] = t;
      layout[b.name] = { need, initial };
    }
    rt.dispatch(spec.id, tensors, c.params);
    await rt.flush();
    const after: Record<string, Uint8Array> = {};
    for (const b of spec.bindings) after[b.name] = await rt.read(tensors[b.name]);
    return { after, layout };
  } finally {
    for (const t of Object.values(tensors)) rt.free(t);
  }
}

/** Run a case on a runtime twice (two sentinels) and collect its outputs, guards and inputs. */
async function runOn(rt: Runtime, spec: KernelSpec, c: Case, inputs: Record<string, Uint8Array>): Promise<RunOutput> {
  const runs = [];
  for (const s of SENTINELS) runs.push(await runOnce(rt, spec, c, inputs, s));
  const bytes: Record<string, Uint8Array> = {};
  const guardViolations: Record<string, number> = {};
  const unwritten: Record<string, number> = {};
  const inputsChanged: string[] = [];
  for (const b of spec.bindings) {
    const { need } = runs[0].layout[b.name];
    if (b.access === 'read') {
      if (runs.some((r) => !sameBytes(r.after[b.name], r.layout[b.name].initial))) inputsChanged.push(b.name);
      continue;
    }
    let guards = 0;
    for (const r of runs) for (let i = need; i < r.after[b.name].length; i++) if (r.after[b.name][i] !== r.layout[b.name].initial[i]) guards++;
    guardViolations[b.name] = guards;
    if (b.scratch) continue; // contents unspecified: only its guard is checked
    bytes[b.name] = runs[0].after[b.name].slice(0, need);
    let differ = 0;
    for (let i = 0; i < need; i++) if (runs[0].after[b.name][i] !== runs[1].after[b.name][i]) differ++;
    unwritten[b.name] = differ;
  }
  return { bytes, guardViolations, unwritten, inputsChanged };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length < b.length) return false;
  for (let i = 0; i < b.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether `rt` declares kernel `id` approximate (its division or square root is not IEEE). */
export function declaresApproximate(rt: Runtime, id: string): boolean {
  return rt.info().approximate?.includes(id) ?? false;
}

export interface RunOptions {
  /** Only these kernel ids (default: all). */
  readonly kernels?: readonly string[];
  /** Called after each result (for progress output). */
  readonly onResult?: (r: CaseResult) => void;
  /** Only cases whose "kernel name" contains this text. */
  readonly filter?: string;
  /** Cases to run instead of the built-in list (tests, benchmarks). */
  readonly cases?: readonly Case[];
}

/** The cases selected by options. */
export function selectCases(options: RunOptions = {}): Case[] {
  return (options.cases ?? CASES).filter(
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
    const needMasks = runtimes.some((rt) => declaresApproximate(rt, spec.id));
    const masks = needMasks ? ambiguousMasks(spec, c, inputs) : {};
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
      const approx = declaresApproximate(rt, spec.id);
      const ftz = rt.info().flushesSubnormals === true;
      push(judge(spec, c, rt.name, 'reference', out, want, approx ? masks : {}, approx, ftz));
      if (base) {
        const either = approx || declaresApproximate(base.rt, spec.id);
        push(judge(spec, c, rt.name, base.rt.name, out, base.out.bytes, either ? masks : {}, either, ftz || base.rt.info().flushesSubnormals === true));
      } else {
        base = { rt, out };
      }
    }
  }
  return results;
}

/** Run one case on one runtime against the reference (benchmarks validate with this before timing). */
export async function checkCase(rt: Runtime, c: Case): Promise<CaseResult> {
  const [r] = await runConformance([rt], { cases: [c] });
  return r;
}

/** The reference's outputs for a case: the defined bytes of every binding after the reference kernel ran. */
export function referenceOutputs(spec: KernelSpec, c: Case, inputs: Record<string, Uint8Array>): Record<string, Uint8Array> {
  const bufs: Record<string, Uint8Array> = {};
  for (const b of spec.bindings) {
    const need = definedBytes(spec, b, c);
    // Padded to 4 bytes: reference kernels view buffers as 32-bit words.
    const buf = new Uint8Array(Math.ceil(need / 4) * 4);
    if (b.access !== 'write' && !b.scratch) buf.set(inputs[b.name]);
    bufs[b.name] = buf;
  }
  referenceKernels[spec.id].run(c.params, bufs);
  const out: Record<string, Uint8Array> = {};
  for (const b of spec.bindings) out[b.name] = bufs[b.name].subarray(0, definedBytes(spec, b, c));
  return out;
}

/** Per `codes` output, the elements the reference proves ambiguous (only needed for an approximate runtime). */
function ambiguousMasks(spec: KernelSpec, c: Case, inputs: Record<string, Uint8Array>): Record<string, Uint8Array | undefined> {
  const masks: Record<string, Uint8Array | undefined> = {};
  const ref = referenceKernels[spec.id];
  for (const name of Object.keys(spec.tolerance)) {
    const tol = toleranceFor(spec, name, true);
    // (scratch bindings have no tolerance, so they never get here)
    if (tol.kind !== 'codes' || !ref.ambiguous) continue;
    const bufs: Record<string, Uint8Array> = {};
    for (const [k, v] of Object.entries(inputs)) {
      const padded = new Uint8Array(Math.ceil(v.length / 4) * 4);
      padded.set(v);
      bufs[k] = padded;
    }
    masks[name] = ref.ambiguous(c.params, bufs, name, tol.midpointEps);
  }
  return masks;
}

/** The tolerance of an output on an exact or an approximate runtime. */
export function toleranceFor(spec: KernelSpec, binding: string, approximate: boolean): Tolerance {
  return (approximate && spec.approximate?.[binding]) || spec.tolerance[binding];
}

/** Elements compared for a binding: 4-bit codes (the pad nibble included) for nibble packing. */
function comparedElements(spec: KernelSpec, b: BindingSpec, c: Case, tol: Tolerance): number {
  const count = bindingElements(spec, b, c.params);
  return tol.kind === 'codes' && tol.packing === 'nibble' ? 2 * count : count;
}

function judge(
  spec: KernelSpec,
  c: Case,
  runtime: string,
  against: string,
  out: RunOutput,
  want: Record<string, Uint8Array>,
  masks: Record<string, Uint8Array | undefined>,
  approximate: boolean,
  flushesSubnormals = false,
): CaseResult {
  const outputs: OutputResult[] = [];
  for (const b of spec.bindings) {
    if (b.access === 'read') continue;
    if (b.scratch) {
      const guardViolations = out.guardViolations[b.name] ?? 0;
      if (guardViolations) outputs.push({ binding: b.name, elements: 0, mismatches: 0, exempt: 0, budget: 0, maxError: 0, guardViolations, unwritten: 0 });
      continue;
    }
    const tol = toleranceFor(spec, b.name, approximate);
    const cmp = compareOutput(tol, b.dtype, comparedElements(spec, b, c, tol), out.bytes[b.name], want[b.name], approximate ? masks[b.name] : undefined, flushesSubnormals);
    outputs.push({ binding: b.name, ...cmp, guardViolations: out.guardViolations[b.name] ?? 0, unwritten: out.unwritten[b.name] ?? 0 });
  }
  const pass = out.inputsChanged.length === 0 && outputs.every((o) => o.mismatches === 0 && o.guardViolations === 0 && o.unwritten === 0);
  return { kernel: c.kernel, case: c.name, runtime, status: pass ? 'pass' : 'fail', outputs, inputsChanged: out.inputsChanged, against };
}

/** Format an element value for a report: floats as numbers, codes as integers, exact bits in hex. */
function show(v: number): string {
  return Number.isInteger(v) && Math.abs(v) > 255 ? `0x${v.toString(16)}` : String(v);
}

/** A one-line description of a failed result. */
export function describeFailure(r: CaseResult): string {
  if (r.error) return `${r.kernel} [${r.case}] on ${r.runtime}: ${r.error}`;
  const bad = r.outputs
    .filter((o) => o.mismatches || o.guardViolations || o.unwritten)
    .map((o) => {
      const parts = [];
      if (o.mismatches) parts.push(`${o.mismatches}/${o.elements} mismatches, max error ${o.maxError}${o.first ? `, first at element ${o.first.index}: got ${show(o.first.got)}, want ${show(o.first.want)}` : ''}`);
      if (o.exempt) parts.push(`${o.exempt} exempt: ambiguous codes one away or flushed subnormals (budget ${o.budget})`);
      if (o.guardViolations) parts.push(`${o.guardViolations} guard bytes after the last element overwritten`);
      if (o.unwritten) parts.push(`${o.unwritten} bytes not written (they follow the starting sentinel)`);
      return `${o.binding}: ${parts.join('; ')}`;
    });
  if (r.inputsChanged?.length) bad.push(`inputs changed: ${r.inputsChanged.join(', ')}`);
  return `${r.kernel} [${r.case}] on ${r.runtime} vs ${r.against}: ${bad.join(' | ')}`;
}

