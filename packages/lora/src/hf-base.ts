/**
 * A BaseModel from a Hugging Face decoder's tensors (Llama, Mistral, Qwen2, Phi-3 layouts of
 * @kvant/formats' expectedTensors): linear weights become DenseBase or, with `quant`, FourBitBase
 * (the output head stays dense, as bitsandbytes leaves lm_head); biases, embeddings and norms are
 * uploaded as f32.
 */
import { ConfigError, type Runtime, type Tensor, upload } from '@kvant/abi';
import { expectedTensors, type HfConfig } from '@kvant/formats';
import type { QuantConfig } from '@kvant/quant';
import type { BaseWeight } from './base';
import { DenseBase } from './dense-base';
import { FourBitBase } from './four-bit-base';
import type { BaseLinearModule, BaseModel } from './model';

export interface HfBaseOptions {
  /** Quantize the decoder's linear weights to 4-bit (NF4/FP4, blocksize, double quant). */
  readonly quant?: QuantConfig;
  readonly nameOrPath?: string;
}

/** Build a BaseModel from `config` and a reader of its tensors as f32 (name → values). */
export async function baseModelFromHf(rt: Runtime, config: HfConfig, read: (name: string) => Float32Array | Promise<Float32Array>, options: HfBaseOptions = {}): Promise<BaseModel> {
  const linears: BaseLinearModule[] = [];
  const others: Record<string, Tensor> = {};
  const tensors = expectedTensors(config);
  const biasOf = new Map<string, Tensor>();
  for (const t of tensors) {
    if (t.role !== 'bias') continue;
    biasOf.set(t.name.slice(0, -'.bias'.length), upload(rt, 'f32', t.shape, await checked(read, t.name, t.shape)));
  }
  for (const t of tensors) {
    if (t.role === 'bias') continue;
    const values = await checked(read, t.name, t.shape);
    if (t.role === 'linear' || t.role === 'lm_head') {
      const module = t.name.slice(0, -'.weight'.length);
      const shape = t.shape as [number, number];
      const base: BaseWeight = options.quant && t.role === 'linear' ? await FourBitBase.quantize(rt, values, shape, options.quant) : DenseBase.fromValues(rt, values, shape);
      linears.push({ name: module, base, bias: biasOf.get(module) });
    } else {
      others[t.name] = upload(rt, 'f32', t.shape, values);
    }
  }
  return { runtime: rt, modelType: config.model_type, linears, outputHead: config.tie_word_embeddings ? undefined : 'lm_head', otherParameters: others, nameOrPath: options.nameOrPath };
}

async function checked(read: (name: string) => Float32Array | Promise<Float32Array>, name: string, shape: readonly number[]): Promise<Float32Array> {
  const v = await read(name);
  const n = shape.reduce((a, b) => a * b, 1);
  if (!(v instanceof Float32Array) || v.length !== n) throw new ConfigError(`base tensor ${name}`, `${n} f32 values [${shape.join(', ')}]`, v instanceof Float32Array ? `${v.length}` : typeof v);
  return v;
}
