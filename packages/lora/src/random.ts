/**
 * Seeded initialization of A (and B with init_lora_weights = false), so a seed gives the same adapter
 * on every runtime and every machine. The generator is mulberry32; it is not torch's generator, so
 * kvant's fresh A differs from PEFT's fresh A value by value while following the same distribution.
 */
import { rng } from '@kvant/abi';

/** mulberry32: uniforms in [0, 1) from a 32-bit seed (the generator of @kvant/abi, shared by every package). */
export const uniformGenerator: (seed: number) => () => number = rng;

/** FNV-1a hash of strings mixed with a seed: one seed per (module, adapter). */
export function seedFor(seed: number, ...parts: string[]): number {
  let h = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  for (const part of parts) {
    for (let i = 0; i < part.length; i++) h = Math.imul(h ^ part.charCodeAt(i), 0x01000193) >>> 0;
    h = Math.imul(h ^ 0x2f, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * Kaiming-uniform with a = sqrt(5), as nn.Linear and PEFT initialize A: gain = sqrt(2 / (1 + 5)),
 * bound = gain·sqrt(3 / fan_in) = 1 / sqrt(fan_in); values U(-bound, bound) as f32.
 */
export function kaimingUniform(count: number, fanIn: number, seed: number): Float32Array {
  const u = uniformGenerator(seed);
  const bound = 1 / Math.sqrt(fanIn);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = (2 * u() - 1) * bound;
  return out;
}

/** Normal samples N(0, std²) (Box–Muller), as PEFT's init_lora_weights = "gaussian" draws A with std = 1/r. */
export function gaussian(count: number, std: number, seed: number): Float32Array {
  const u = uniformGenerator(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - u()));
    const phi = 2 * Math.PI * u();
    out[i] = std * r * Math.cos(phi);
    if (i + 1 < count) out[i + 1] = std * r * Math.sin(phi);
  }
  return out;
}
