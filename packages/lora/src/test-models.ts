/** A tiny seeded Llama-layout base model for the tests (hidden 16, 2 layers). */
import type { Runtime } from '@kvant/abi';
import { expectedTensors, parseHfConfig } from '@kvant/formats';
import { baseModelFromHf } from './hf-base';
import { data } from './test-support';

export const H = 16;
export function tinyConfig(extra: Record<string, unknown> = {}) {
  return parseHfConfig(
    { model_type: 'llama', hidden_size: H, intermediate_size: 32, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 2, vocab_size: 24, ...extra },
    'config.json',
  );
}

export async function tinyBase(rt: Runtime, extra: Record<string, unknown> = {}, quant = false) {
  const config = tinyConfig(extra);
  const values = new Map(expectedTensors(config).map((t, i) => [t.name, data(t.shape.reduce((a, b) => a * b, 1), 100 + i, 0.2)]));
  return baseModelFromHf(rt, config, (n) => values.get(n)!, quant ? { quant: { quantType: 'nf4', blocksize: 64 } } : {});
}

