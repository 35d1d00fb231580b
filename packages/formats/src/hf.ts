/**
 * A local Hugging Face model folder: `config.json`, safetensors weights (single file or sharded
 * index), and the tokenizer files that travel with it. Weights are read lazily, one tensor at a time.
 */
import { readdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { toFloat32 } from './convert';
import { ModelFileError } from './errors';
import { fsError } from './fs-errors';
import { type HfConfig, parseHfConfig, readJsonFile } from './hf-config';
import { readRegularFile, statRegularFile } from './regular-file';
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
    /** What the reader decided that a user should know (e.g. an index ignored, as transformers ignores it). */
    readonly notes: readonly string[],
  ) {}

  /**
   * Open a folder: parse config.json, open `model.safetensors` or, when there is none,
   * `model.safetensors.index.json` and its shards (validating every header), and check that every
   * tokenizer file is a readable regular file. When both weight files exist, `model.safetensors` is
   * used, as transformers does, and a note says so. Nothing is read that is not a regular file.
   * Missing or malformed files give a ModelFileError, SafetensorsError or FileSystemError naming the path.
   */
  static async open(dir: string): Promise<HfModelFolder> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new ModelFileError(dir, 'a model folder', code === 'ENOENT' ? 'no such directory' : code === 'ENOTDIR' ? 'a file' : (e as Error).message);
    }
    const configPath = join(dir, 'config.json');
    const config = parseHfConfig(await readJsonFile(configPath), configPath);
    const tokenizerFiles = TOKENIZER_FILES.filter((f) => names.includes(f));
    for (const f of tokenizerFiles) await statRegularFile(join(dir, f), 'a readable tokenizer or generation file (a regular file)');
    const notes: string[] = [];
    let weights: TensorStore;
    let weightFiles: string[];
    if (names.includes('model.safetensors')) {
      weights = await SafetensorsFile.open(join(dir, 'model.safetensors'));
      weightFiles = ['model.safetensors'];
      if (names.includes('model.safetensors.index.json')) {
        notes.push('model.safetensors.index.json ignored: model.safetensors is present, and transformers loads model.safetensors when both exist');
      }
    } else if (names.includes('model.safetensors.index.json')) {
      const sharded = await ShardedSafetensors.open(join(dir, 'model.safetensors.index.json'));
      weights = sharded;
      weightFiles = ['model.safetensors.index.json', ...sharded.shards.keys()];
    } else {
      const other = names.filter((n) => /\.(bin|pt|pth|gguf|safetensors)$/.test(n));
      throw new ModelFileError(
        join(dir, 'model.safetensors'),
        'safetensors weights: model.safetensors or model.safetensors.index.json',
        other.length ? `only ${other.join(', ')}` : 'no weight files',
      );
    }
    return new HfModelFolder(dir, config, weights, weightFiles, tokenizerFiles, notes);
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

  /** Every path this folder reads: the folder, config.json, the weight files, the tokenizer files (for the --force safety check). */
  inputPaths(): string[] {
    return [this.dir, ...['config.json', ...this.weightFiles, ...this.tokenizerFiles].map((f) => resolve(this.dir, f))];
  }

  /** Copy the tokenizer and generation files into `toDir` (which must exist); returns their names. */
  async copyTokenizerFiles(toDir: string): Promise<string[]> {
    for (const f of this.tokenizerFiles) {
      const bytes = await readRegularFile(join(this.dir, f), 'a readable tokenizer or generation file (a regular file)');
      try {
        await writeFile(join(toDir, f), bytes);
      } catch (e) {
        throw fsError(e, join(toDir, f), 'a writable output file');
      }
    }
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
