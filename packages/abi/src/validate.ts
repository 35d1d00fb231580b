import { byteLengthOf } from './dtypes';
import { KernelArgumentError, PreconditionError } from './errors';
import type { Runtime, Tensor } from './runtime';
import { bindingElements, type KernelSpec, type Params } from './spec';

/**
 * Check params and bindings against a kernel spec; every runtime calls this before dispatch.
 * Throws KernelArgumentError / PreconditionError naming the kernel, the param or binding, and
 * the expected and found values.
 */
export function validateDispatch(
  spec: KernelSpec,
  runtime: Runtime,
  bindings: Readonly<Record<string, Tensor>>,
  params: Params,
): void {
  const id = spec.id;
  for (const name of Object.keys(params)) {
    if (!spec.params.some((p) => p.name === name)) {
      throw new KernelArgumentError(id, `param ${name}`, `one of ${spec.params.map((p) => p.name).join(', ')}`, 'an unknown param');
    }
  }
  for (const p of spec.params) {
    const v = params[p.name];
    if (typeof v !== 'number') throw new KernelArgumentError(id, `param ${p.name}`, `a ${p.type}`, String(v));
    if (p.type === 'u32' && !(Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) {
      throw new KernelArgumentError(id, `param ${p.name}`, 'an integer in [0, 2^32)', String(v));
    }
    if (p.type === 'i32' && !(Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff)) {
      throw new KernelArgumentError(id, `param ${p.name}`, 'an integer in [-2^31, 2^31)', String(v));
    }
  }
  for (const c of spec.preconditions) {
    if (!c.check(params)) throw new PreconditionError(id, c.param, params[c.param], c.requirement);
  }
  for (const name of Object.keys(bindings)) {
    if (!spec.bindings.some((b) => b.name === name)) {
      throw new KernelArgumentError(id, `binding ${name}`, `one of ${spec.bindings.map((b) => b.name).join(', ')}`, 'an unknown binding');
    }
  }
  for (const b of spec.bindings) {
    const t = bindings[b.name];
    if (!t) throw new KernelArgumentError(id, `binding ${b.name}`, `a ${b.dtype} tensor`, 'nothing');
    if (t.runtime !== runtime) {
      throw new KernelArgumentError(id, `binding ${b.name}`, `a tensor on ${runtime.name}`, `a tensor on ${t.runtime.name}`);
    }
    if (t.dtype !== b.dtype) throw new KernelArgumentError(id, `binding ${b.name}`, `dtype ${b.dtype}`, `dtype ${t.dtype}`);
    const need = bindingElements(spec, b, params);
    if (t.size < need) {
      throw new KernelArgumentError(id, `binding ${b.name}`, `at least ${need} elements (shape [${b.shape.join(', ')}])`, `${t.size} elements`);
    }
    if (t.byteLength < byteLengthOf(b.dtype, need)) {
      throw new KernelArgumentError(id, `binding ${b.name}`, `at least ${byteLengthOf(b.dtype, need)} bytes`, `${t.byteLength} bytes`);
    }
  }
  const written = spec.bindings.filter((b) => b.access !== 'read');
  for (const w of written) {
    for (const b of spec.bindings) {
      if (b !== w && bindings[b.name] === bindings[w.name]) {
        throw new KernelArgumentError(id, `binding ${w.name}`, `a tensor not also bound as ${b.name}`, 'the same tensor');
      }
    }
  }
}

/** Bytes of the params block: 32-bit little-endian words in spec order, padded to 16 bytes. */
export function paramsByteLength(spec: KernelSpec): number {
  return Math.max(16, Math.ceil((spec.params.length * 4) / 16) * 16);
}

/** Pack params into the block every runtime passes to its kernels (the generated `Params` struct). */
export function packParams(spec: KernelSpec, params: Params): Uint8Array {
  const bytes = new Uint8Array(paramsByteLength(spec));
  const view = new DataView(bytes.buffer);
  spec.params.forEach((p, i) => {
    const v = params[p.name];
    if (p.type === 'u32') view.setUint32(i * 4, v, true);
    else if (p.type === 'i32') view.setInt32(i * 4, v, true);
    else view.setFloat32(i * 4, v, true);
  });
  return bytes;
}
