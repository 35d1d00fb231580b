/**
 * Seeded data shared by the conformance cases, the runtime tests, the benchmarks, the docs figures
 * and the initialization of adapters (@kvant/lora): one generator, so the same seed means the same
 * data everywhere.
 */

/** mulberry32: a small 32-bit PRNG giving uniforms in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n standard normal samples times `scale` (Box–Muller on mulberry32, both outputs used), as f32. */
export function randn(n: number, seed: number, scale = 1): Float32Array {
  const u = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = 1 - u(); // (0, 1]: the log is finite
    const u2 = u();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = scale * r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = scale * r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/** n uniform random bytes. */
export function randomBytes(n: number, seed: number): Uint8Array {
  const u = rng(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(u() * 256));
}
