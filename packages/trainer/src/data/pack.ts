/**
 * Best-fit decreasing packing, TRL's "bfd" strategy (trl/data_utils.py `_pack_bfd`): sequences are
 * cut to `seqLength`, sorted by length (longest first, ties in input order), and each goes into the
 * open bin with the smallest remaining space that fits it (among equal spaces, the bin that reached
 * that space first); a new bin opens when none fits. A segment tree over the free-space values
 * 1..seqLength finds the best fit in O(log seqLength).
 */

/** Finds the smallest stored value >= a query among values in [1, maxval] (TRL's `_SegmentTree`). */
class SegmentTree {
  private readonly size: number;
  private readonly tree: Int32Array;
  constructor(readonly maxval: number) {
    this.size = 1 << Math.ceil(Math.log2(Math.max(1, maxval)));
    this.tree = new Int32Array(2 * this.size);
  }
  private set(val: number, to: number): void {
    let i = this.size + val - 1;
    this.tree[i] = to;
    while (i > 1) {
      i >>= 1;
      this.tree[i] = Math.max(this.tree[2 * i], this.tree[2 * i + 1]);
    }
  }
  add(val: number): void {
    this.set(val, val);
  }
  remove(val: number): void {
    this.set(val, 0);
  }
  /** The leftmost leaf whose value is >= val: the smallest free space that fits. */
  search(val: number): number {
    let i = 1;
    while (i < this.size) i = this.tree[2 * i] >= val ? 2 * i : 2 * i + 1;
    return this.tree[i];
  }
}

/**
 * Pack sequences of the given lengths (each already <= seqLength, none empty) into bins; returns
 * each bin's sequence indices in the order they were placed (longest first), bins in opening order.
 */
export function packBestFitDecreasing(lengths: readonly number[], seqLength: number): number[][] {
  const order = lengths.map((len, i) => ({ len, i })).sort((a, b) => b.len - a.len || a.i - b.i);
  const tree = new SegmentTree(seqLength);
  tree.add(seqLength); // a new, empty bin is always available
  const binsBySpace = new Map<number, { ids: number[] }[]>();
  const bins: { ids: number[] }[] = [];
  for (const { len, i } of order) {
    let space = tree.search(len);
    let bin: { ids: number[] };
    if (space < seqLength) {
      const queue = binsBySpace.get(space)!;
      bin = queue.shift()!;
      if (queue.length === 0) tree.remove(space);
    } else {
      bin = { ids: [] };
      bins.push(bin);
    }
    bin.ids.push(i);
    space -= len;
    if (!binsBySpace.has(space)) binsBySpace.set(space, []);
    binsBySpace.get(space)!.push(bin);
    if (space > 0) tree.add(space);
  }
  return bins.map((b) => b.ids);
}
