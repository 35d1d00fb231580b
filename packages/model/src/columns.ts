/**
 * Column blocks of a row-major [M, F] activation, moved with `linalg.matmul` (no copy kernel takes
 * an offset): Phi-3's fused projections write [q | k | v] and [gate | up] per token, and rope,
 * attention and swiglu want each part as its own contiguous tensor.
 *
 * The trick: when the block's offset is a multiple j·w of its width w, row t of x read as a
 * [j+1, w] matrix (stride F between batches) has the block as its row j. A one-hot row e_j [1, j+1]
 * times that matrix is the block: out_t [1, w] = e_j · x_t[0..(j+1)·w). Each output element is
 * 0·x + ... + 1·x_sel + ... + 0·x: exact for finite values (a sum of signed zeros and one value).
 * The backward writes the block into its place the same way: x_t [j+1, w] = e_jᵀ [j+1, 1] · d_t [1, w],
 * which also writes zeros into the rows before the block (use `beta = 1` to add them to what is
 * there, or write the last block first with beta = 0 and the earlier ones with beta = 1).
 */
import { type Runtime, type Tensor, TensorError, upload } from '@kvant/abi';

/** One-hot selectors e_j of length j + 1, uploaded once per runtime and index. */
export class Selectors {
  private readonly byIndex = new Map<number, Tensor>();
  constructor(private readonly rt: Runtime) {}

  get(j: number): Tensor {
    let t = this.byIndex.get(j);
    if (!t) {
      const v = new Float32Array(j + 1);
      v[j] = 1;
      t = upload(this.rt, 'f32', [j + 1], v);
      this.byIndex.set(j, t);
    }
    return t;
  }

  free(): void {
    for (const t of this.byIndex.values()) this.rt.free(t);
    this.byIndex.clear();
  }
}

function blockIndex(offset: number, width: number, where: string): number {
  if (offset % width !== 0) throw new TensorError(where, `a column offset that is a multiple of the block width ${width}`, `offset ${offset}`);
  return offset / width;
}

/** out [M, w] = x[:, offset : offset + w] for x [M, F]. */
export function takeColumns(rt: Runtime, sel: Selectors, x: Tensor, out: Tensor, m: number, f: number, offset: number, width: number): void {
  const j = blockIndex(offset, width, 'takeColumns');
  rt.dispatch(
    'linalg.matmul',
    { a: sel.get(j), b: x, c: out },
    { m: 1, n: width, k: j + 1, trans_a: 0, trans_b: 0, batch: m, stride_a: 0, stride_b: f, stride_c: width, alpha: 1, beta: 0 },
  );
}

/**
 * x[:, 0 : offset + w] = [0 … 0 | d] + beta·x[:, 0 : offset + w] for x [M, F], d [M, w]: the block
 * `d` lands at `offset`; the columns before it get zeros (beta = 0) or keep their values (beta = 1).
 */
export function putColumns(rt: Runtime, sel: Selectors, d: Tensor, x: Tensor, m: number, f: number, offset: number, width: number, beta: 0 | 1): void {
  const j = blockIndex(offset, width, 'putColumns');
  rt.dispatch(
    'linalg.matmul',
    { a: sel.get(j), b: d, c: x },
    { m: j + 1, n: width, k: 1, trans_a: 0, trans_b: 0, batch: m, stride_a: 0, stride_b: width, stride_c: f, alpha: 1, beta },
  );
}
