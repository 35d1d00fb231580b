/**
 * A local Hugging Face model folder: `config.json`, safetensors weights (single file or sharded
 * index), and the tokenizer files that travel with it. Weights are read lazily, one tensor at a time.
 */
import { copyFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { toFloat32 } from './convert';
import { ModelFileError } from './errors';
import { type HfConfig, readHfConfig } from './hf-config';
import { SafetensorsFile, type SafetensorsTensor, ShardedSafetensors, type TensorInfo, type TensorStore } from './safetensors';

export * from './hf-config';

/**
 * Files other than weights and config.json that a model folder carries and a converted copy
 * should keep: tokenizers of every kind, chat templates, generation defaults.
 */
export const TOKENIZER_FILES: readonly string[] = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'tokenizer.model',
  'vocab.json',
  'merges.txt',
  'vocab.txt',
  'chat_template.jinja',
  'chat_template.json',
  'generation_config.json',
];

/** A tensor read as f32, with the dtype it was stored in. */
export interface Float32Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
  readonly storedDtype: SafetensorsTensor['dtype'];
}

/** An opened model folder. Call `close()` to release the weight files. */
export class HfModelFolder {
  private constructor(
    /** The folder. */
    readonly dir: string,
    /** The typed config. */
    readonly config: HfConfig,
    /** The weights (one file or the shards of an index). */
    readonly weights: TensorStore,
    /** Weight file names in the folder (the index first when sharded). */
    readonly weightFiles: readonly string[],
    /** Tokenizer and generation files present (names from TOKENIZER_FILES). */
    readonly tokenizerFiles: readonly string[],
  ) {}

  /**
   * Open a folder: parse config.json, open `model.safetensors.index.json` (sharded) or
   * `model.safetensors` (validating every header), and list the tokenizer files.
   * Missing or malformed files give a ModelFileError or SafetensorsError naming the path.
   */
  static async open(dir: string): Promise<HfModelFolder> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new ModelFileError(dir, 'a model folder', code === 'ENOENT' ? 'no such directory' : code === 'ENOTDIR' ? 'a file' : (e as Error).message);
    }
    const config = await readHfConfig(join(dir, 'config.json'));
    let weights: TensorStore;
    let weightFiles: string[];
    if (names.includes('model.safetensors.index.json')) {
      const sharded = await ShardedSafetensors.open(join(dir, 'model.safetensors.index.json'));
      weights = sharded;
      weightFiles = ['model.safetensors.index.json', ...sharded.shards.keys()];
    } else if (names.includes('model.safetensors')) {
      weights = await SafetensorsFile.open(join(dir, 'model.safetensors'));
      weightFiles = ['model.safetensors'];
    } else {
      const other = names.filter((n) => /\.(bin|pt|pth|gguf|safetensors)$/.test(n));
      throw new ModelFileError(
        join(dir, 'model.safetensors'),
        'safetensors weights: model.safetensors or model.safetensors.index.json',
        other.length ? `only ${other.join(', ')}` : 'no weight files',
      );
    }
    const tokenizerFiles = TOKENIZER_FILES.filter((f) => names.includes(f));
    return new HfModelFolder(dir, config, weights, weightFiles, tokenizerFiles);
  }

  /** Every tensor's name, dtype, shape and file. */
  tensors(): TensorInfo[] {
    return this.weights.list();
  }

  has(name: string): boolean {
    return this.weights.has(name);
  }

  info(name: string): TensorInfo {
    return this.weights.info(name);
  }

  /** A tensor as stored. */
  read(name: string): Promise<SafetensorsTensor> {
    return this.weights.read(name);
  }

  /** A tensor as f32 (F16 and BF16 converted exactly; integer tensors refused with a TensorError). */
  async readFloat32(name: string): Promise<Float32Tensor> {
    const t = await this.weights.read(name);
    return { shape: t.shape, data: toFloat32(t, `${this.weights.path}: tensor "${name}"`), storedDtype: t.dtype };
  }

  /** Copy the tokenizer and generation files into `toDir` (which must exist); returns their names. */
  async copyTokenizerFiles(toDir: string): Promise<string[]> {
    for (const f of this.tokenizerFiles) await copyFile(join(this.dir, f), join(toDir, f));
    return [...this.tokenizerFiles];
  }

  async close(): Promise<void> {
    await this.weights.close();
  }
}

/** Open a Hugging Face model folder (see HfModelFolder.open). */
export function openHfModel(dir: string): Promise<HfModelFolder> {
  return HfModelFolder.open(dir);
}
