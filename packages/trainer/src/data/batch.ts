/**
 * Batches for the model: a seeded shuffle per epoch, then rows right-padded to the longest row of
 * the batch (TRL's collator pads on the right: input ids with the pad token, labels with -100,
 * attention mask 0), or, padding-free, every row of the batch concatenated into one row (position
 * ids restarting at each example, each example's first label -100, no padding).
 *
 * The attention structure is in `documentIds`: attend causally within equal ids only; -1 is padding.
 * Position ids that restart mark the same boundaries (what FlashAttention's varlen path reads).
 */
import { IGNORE_INDEX, type PreparedExample } from './prepare';
import { seededPermutation } from './split';

/** A batch of B rows of T tokens, row-major. */
export interface Batch {
  /** Rows (B) and tokens per row (T). */
  readonly rows: number;
  readonly seqLength: number;
  /** [B, T] token ids (padding: the pad id). */
  readonly inputIds: Int32Array;
  /** [B, T] labels aligned with inputIds, -100 where no loss (padding included). */
  readonly labels: Int32Array;
  /** [B, T] position within each example (padding: 0). */
  readonly positionIds: Int32Array;
  /** [B, T] 1 for tokens, 0 for padding. */
  readonly attentionMask: Uint8Array;
  /** [B, T] index of the example within its row (0, 1, … for packed examples), -1 for padding. */
  readonly documentIds: Int32Array;
  /** Example lengths of each row. */
  readonly seqLengths: number[][];
  /** Labels != -100 in the batch (before the shift; the loss counts labels[1:] of each row). */
  readonly labelTokens: number;
  /** Indices of the prepared examples in this batch. */
  readonly indices: number[];
}

/** Options of makeBatches. */
export interface BatchOptions {
  /** Rows per batch (TrainingArguments' per_device_train_batch_size; default 8). */
  readonly batchSize?: number;
  /** Shuffle the rows with `seed` and `epoch` (default true; `--no-shuffle` keeps file order). */
  readonly shuffle?: boolean;
  readonly seed?: number;
  readonly epoch?: number;
  /** Padding id (TRL: pad_token, else eos_token). */
  readonly padTokenId: number;
  /** Pad T up to a multiple of this (default 1). */
  readonly padToMultipleOf?: number;
  /** Concatenate each batch into one row (TRL's padding_free; forced on for bfd packing). Default false. */
  readonly paddingFree?: boolean;
  /** Keep a last batch smaller than batchSize (default true). */
  readonly keepLast?: boolean;
}

/** The order of rows for an epoch: seeded shuffle, or file order. */
export function epochOrder(n: number, options: { shuffle?: boolean; seed?: number; epoch?: number } = {}): number[] {
  return options.shuffle === false ? Array.from({ length: n }, (_, i) => i) : seededPermutation(n, options.seed ?? 42, options.epoch ?? 0);
}

/** One batch from the given examples. */
export function collate(examples: readonly PreparedExample[], options: BatchOptions, indices: number[] = examples.map((_, i) => i)): Batch {
  const m = Math.max(1, options.padToMultipleOf ?? 1);
  // Padding-free: one row, every example's first label masked (it would be predicted across a boundary).
  const rowsOf: { ids: number[]; labels: number[]; pos: number[]; lens: number[] }[] = options.paddingFree
    ? [
        examples.reduce(
          (acc, e) => {
            let offset = 0;
            for (const len of e.seqLengths) {
              for (let i = 0; i < len; i++) {
                acc.ids.push(e.inputIds[offset + i]);
                acc.labels.push(i === 0 ? IGNORE_INDEX : e.labels[offset + i]);
                acc.pos.push(i);
              }
              acc.lens.push(len);
              offset += len;
            }
            return acc;
          },
          { ids: [] as number[], labels: [] as number[], pos: [] as number[], lens: [] as number[] },
        ),
      ]
    : examples.map((e) => ({ ids: e.inputIds, labels: e.labels, pos: e.positionIds, lens: e.seqLengths }));
  const longest = Math.max(...rowsOf.map((r) => r.ids.length));
  const T = Math.ceil(longest / m) * m;
  const B = rowsOf.length;
  const inputIds = new Int32Array(B * T).fill(options.padTokenId);
  const labels = new Int32Array(B * T).fill(IGNORE_INDEX);
  const positionIds = new Int32Array(B * T);
  const attentionMask = new Uint8Array(B * T);
  const documentIds = new Int32Array(B * T).fill(-1);
  let labelTokens = 0;
  rowsOf.forEach((r, b) => {
    let doc = 0;
    let left = r.lens[0];
    for (let t = 0; t < r.ids.length; t++) {
      while (left === 0) left = r.lens[++doc];
      inputIds[b * T + t] = r.ids[t];
      labels[b * T + t] = r.labels[t];
      positionIds[b * T + t] = r.pos[t];
      attentionMask[b * T + t] = 1;
      documentIds[b * T + t] = doc;
      left--;
      if (r.labels[t] !== IGNORE_INDEX) labelTokens++;
    }
  });
  return { rows: B, seqLength: T, inputIds, labels, positionIds, attentionMask, documentIds, seqLengths: rowsOf.map((r) => r.lens), labelTokens, indices };
}

/** The batches of one epoch, in seeded order (see epochOrder). */
export function makeBatches(examples: readonly PreparedExample[], options: BatchOptions): Batch[] {
  const size = options.batchSize ?? 8;
  const order = epochOrder(examples.length, options);
  const out: Batch[] = [];
  for (let i = 0; i < order.length; i += size) {
    const idx = order.slice(i, i + size);
    if (idx.length < size && options.keepLast === false) break;
    out.push(collate(
      idx.map((k) => examples[k]),
      options,
      idx,
    ));
  }
  return out;
}
