/**
 * A first-fit allocator over a range of byte addresses [base, end) that can be extended at the
 * top (when the wasm memory grows). Free ranges are kept sorted by address and coalesced with
 * their neighbours on release, so freeing everything leaves one free range again.
 * Every allocation is a multiple of ALIGN bytes at an ALIGN-aligned address (v128 loads and
 * stores, and any element dtype, are then aligned).
 */
export const ALIGN = 16;

interface Range {
  start: number;
  size: number;
}

/** Round up to the arena's alignment. */
export function alignUp(bytes: number): number {
  return Math.ceil(bytes / ALIGN) * ALIGN;
}

export class Arena {
  /** Free ranges, sorted by start, never adjacent (adjacent ones are merged). */
  private readonly free: Range[] = [];
  private used = 0;
  private top: number;

  /** `base` must be ALIGN-aligned. */
  constructor(
    readonly base: number,
    end: number,
  ) {
    if (base % ALIGN !== 0) throw new Error(`arena base ${base} is not ${ALIGN}-aligned`);
    this.top = base;
    this.extend(end);
  }

  /** Bytes handed out and not yet released (allocation sizes, rounded to ALIGN). */
  get bytesInUse(): number {
    return this.used;
  }

  /** End of the managed range. */
  get end(): number {
    return this.top;
  }

  /** Number of free ranges (1 when everything has been released; for tests). */
  get freeRanges(): number {
    return this.free.length;
  }

  /**
   * First fit: the lowest free range that holds `size` bytes (rounded up to ALIGN).
   * Returns the address, or undefined when the arena must grow first.
   */
  alloc(size: number): number | undefined {
    const bytes = alignUp(Math.max(size, 1));
    for (let i = 0; i < this.free.length; i++) {
      const r = this.free[i];
      if (r.size < bytes) continue;
      const addr = r.start;
      if (r.size === bytes) this.free.splice(i, 1);
      else {
        r.start += bytes;
        r.size -= bytes;
      }
      this.used += bytes;
      return addr;
    }
    return undefined;
  }

  /**
   * Bytes the arena must grow by so that alloc(size) succeeds: the free range touching the top
   * counts towards it.
   */
  growthNeeded(size: number): number {
    const bytes = alignUp(Math.max(size, 1));
    const last = this.free[this.free.length - 1];
    const tail = last && last.start + last.size === this.top ? last.size : 0;
    return bytes - tail;
  }

  /** Release an allocation made by alloc(size) at `addr`. */
  release(addr: number, size: number): void {
    const bytes = alignUp(Math.max(size, 1));
    this.insertFree(addr, bytes);
    this.used -= bytes;
  }

  /** The managed range now ends at `end` (after memory growth); the new bytes are free. */
  extend(end: number): void {
    const start = this.top;
    const usable = Math.floor((end - start) / ALIGN) * ALIGN;
    if (usable <= 0) return;
    this.top = start + usable;
    this.insertFree(start, usable);
  }

  private insertFree(start: number, size: number): void {
    // Binary search for the first range after `start`.
    let lo = 0;
    let hi = this.free.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.free[mid].start < start) lo = mid + 1;
      else hi = mid;
    }
    const prev = this.free[lo - 1];
    const next = this.free[lo];
    if ((prev && prev.start + prev.size > start) || (next && start + size > next.start)) {
      throw new Error(`arena: release of [${start}, ${start + size}) overlaps a free range (double free?)`);
    }
    if (prev && prev.start + prev.size === start) {
      prev.size += size;
      if (next && prev.start + prev.size === next.start) {
        prev.size += next.size;
        this.free.splice(lo, 1);
      }
    } else if (next && start + size === next.start) {
      next.start = start;
      next.size += size;
    } else {
      this.free.splice(lo, 0, { start, size });
    }
  }
}
