import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodePng, type Image, lineChartPng, renderLineChart, type Series } from './plot';

/** CRC-32 bit by bit (independent of the table-driven one under test). */
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** A minimal PNG decoder for what encodePng writes: 8-bit RGB, no interlace, filter 0 rows. */
function decodePng(png: Uint8Array): Image & { chunks: string[] } {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  expect([...png.subarray(0, 8)]).toEqual(signature);
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const chunks: string[] = [];
  const idat: Uint8Array[] = [];
  let width = 0;
  let height = 0;
  let at = 8;
  while (at < png.length) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
    const data = png.subarray(at + 8, at + 8 + length);
    const crc = view.getUint32(at + 8 + length);
    if (crc !== crc32(png.subarray(at + 4, at + 8 + length))) throw new Error(`bad CRC in ${type}`);
    chunks.push(type);
    if (type === 'IHDR') {
      expect(length).toBe(13);
      width = view.getUint32(at + 8);
      height = view.getUint32(at + 12);
      expect([...data.subarray(8)]).toEqual([8, 2, 0, 0, 0]);
    } else if (type === 'IDAT') idat.push(data);
    at += 12 + length;
  }
  expect(at).toBe(png.length);
  expect(chunks[0]).toBe('IHDR');
  expect(chunks[chunks.length - 1]).toBe('IEND');
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * 3;
  expect(raw.length).toBe((stride + 1) * height);
  const rgb = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    expect(raw[y * (stride + 1)]).toBe(0);
    rgb.set(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)), y * stride);
  }
  return { width, height, rgb, chunks };
}

type Rgb = readonly [number, number, number];
const BLUE: Rgb = [31, 119, 180];
const ORANGE: Rgb = [255, 127, 14];

const is = (img: Image, x: number, y: number, c: Rgb): boolean => {
  const i = (y * img.width + x) * 3;
  return img.rgb[i] === c[0] && img.rgb[i + 1] === c[1] && img.rgb[i + 2] === c[2];
};

function pixelsOf(img: Image, c: Rgb): [number, number][] {
  const out: [number, number][] = [];
  for (let y = 0; y < img.height; y++) for (let x = 0; x < img.width; x++) if (is(img, x, y, c)) out.push([x, y]);
  return out;
}

/** The plot frame: the rows and columns that are mostly black. */
function frame(img: Image): { left: number; right: number; top: number; bottom: number } {
  const rows: number[] = [];
  const cols: number[] = [];
  for (let y = 0; y < img.height; y++) {
    let n = 0;
    for (let x = 0; x < img.width; x++) n += is(img, x, y, [0, 0, 0]) ? 1 : 0;
    if (n > img.width / 2) rows.push(y);
  }
  for (let x = 0; x < img.width; x++) {
    let n = 0;
    for (let y = 0; y < img.height; y++) n += is(img, x, y, [0, 0, 0]) ? 1 : 0;
    if (n > img.height / 2) cols.push(x);
  }
  expect(rows.length).toBe(2);
  expect(cols.length).toBe(2);
  return { left: cols[0], right: cols[1], top: rows[0], bottom: rows[1] };
}

/** Top-left corners of solid 16×8 blocks of color c (the legend swatches). */
function swatches(img: Image, c: Rgb): [number, number][] {
  const found: [number, number][] = [];
  for (let y = 0; y + 8 <= img.height; y++) {
    for (let x = 0; x + 16 <= img.width; x++) {
      if (found.some(([fx, fy]) => Math.abs(fx - x) < 16 && Math.abs(fy - y) < 8)) continue;
      let solid = true;
      for (let dy = 0; dy < 8 && solid; dy++) for (let dx = 0; dx < 16 && solid; dx++) solid = is(img, x + dx, y + dy, c);
      if (solid) found.push([x, y]);
    }
  }
  return found;
}

const line = (n: number, f: (x: number) => number): [number, number][] => Array.from({ length: n + 1 }, (_, i) => [i, f(i)]);

describe('encodePng', () => {
  it('writes a PNG that decodes to the same pixels', () => {
    const rgb = new Uint8Array(3 * 4 * 3).map((_, i) => (i * 37) & 255);
    const png = encodePng({ width: 3, height: 4, rgb });
    const img = decodePng(png);
    expect(img.chunks).toEqual(['IHDR', 'IDAT', 'IEND']);
    expect([img.width, img.height]).toEqual([3, 4]);
    expect([...img.rgb]).toEqual([...rgb]);
    // The decoder really checks the CRCs.
    const broken = png.slice();
    broken[20] ^= 1;
    expect(() => decodePng(broken)).toThrow(/bad CRC in IHDR/);
  });

  it('rejects a buffer of the wrong size', () => {
    expect(() => encodePng({ width: 2, height: 2, rgb: new Uint8Array(11) })).toThrow(RangeError);
    expect(() => encodePng({ width: 0, height: 2, rgb: new Uint8Array(0) })).toThrow(RangeError);
  });
});

describe('renderLineChart', () => {
  it('makes an image of the size asked for, 800×480 by default', () => {
    const points = line(10, (x) => 10 - x);
    expect(decodePng(lineChartPng([{ label: 'train', points }]))).toMatchObject({ width: 800, height: 480 });
    const img = decodePng(lineChartPng([{ label: 'train', points }], { width: 640, height: 360, title: 'loss' }));
    expect([img.width, img.height, img.rgb.length]).toEqual([640, 360, 640 * 360 * 3]);
    expect(() => renderLineChart([], { width: 20, height: 20 })).toThrow(RangeError);
    expect(() => renderLineChart([], { width: 800.5 })).toThrow(RangeError);
  });

  it('draws a descending line from the top-left to the bottom-right of the plot, and a legend swatch', () => {
    const img = decodePng(lineChartPng([{ label: 'train loss', points: line(100, (x) => 10 - x / 10) }], { title: 'training' }));
    const { left, right, top, bottom } = frame(img);
    expect(left).toBeGreaterThan(20);
    expect(right).toBeGreaterThan(img.width - 40);
    expect(top).toBeGreaterThan(10);
    expect(bottom).toBeLessThan(img.height - 20);
    const [swatch, ...more] = swatches(img, BLUE);
    expect(more).toEqual([]);
    expect(swatch[0]).toBeGreaterThan((left + right) / 2); // legend: top-right
    expect(swatch[1]).toBeLessThan(top + 40);
    const inSwatch = ([x, y]: [number, number]) => x >= swatch[0] && x < swatch[0] + 16 && y >= swatch[1] && y < swatch[1] + 8;
    const blue = pixelsOf(img, BLUE).filter((p) => !inSwatch(p));
    const w = right - left;
    const h = bottom - top;
    const near = (fx: number, fy: number) => blue.some(([x, y]) => Math.abs(x - (left + fx * w)) < 0.06 * w && Math.abs(y - (top + fy * h)) < 0.06 * h);
    expect(near(0.03, 0.03)).toBe(true);
    expect(near(0.97, 0.97)).toBe(true);
    expect(near(0.5, 0.5)).toBe(true);
    // Every pure-blue pixel lies on the plot's diagonal (the line is 2 px thick).
    const offLine = blue.filter(([x, y]) => Math.abs((x - left) / w - (y - top) / h) * Math.hypot(w, h) > 4 || x <= left || x >= right);
    expect(offLine).toEqual([]);
    expect(blue.length).toBeGreaterThan(Math.hypot(w, h));
  });

  it('uses blue then orange, each with its own swatch, and the given colors', () => {
    const img = decodePng(lineChartPng([
      { label: 'train loss', points: line(50, (x) => 3 - x / 25) },
      { label: 'eval loss', points: line(50, (x) => 3.2 - x / 30) },
    ]));
    expect(swatches(img, BLUE)).toHaveLength(1);
    expect(swatches(img, ORANGE)).toHaveLength(1);
    expect(pixelsOf(img, BLUE).length).toBeGreaterThan(16 * 8 + 200);
    expect(pixelsOf(img, ORANGE).length).toBeGreaterThan(16 * 8 + 200);
    const custom = decodePng(lineChartPng([{ label: 'x', points: line(5, (x) => x), color: [10, 200, 30] }]));
    expect(swatches(custom, [10, 200, 30])).toHaveLength(1);
    expect(pixelsOf(custom, BLUE)).toEqual([]);
  });

  it('skips NaN and infinite points without throwing', () => {
    const points: [number, number][] = [[0, 2], [1, Number.NaN], [2, Number.POSITIVE_INFINITY], [Number.NaN, 1], [3, 1.5], [4, Number.NEGATIVE_INFINITY], [5, 1]];
    const img = decodePng(lineChartPng([{ label: 'train', points }]));
    const { left, right, top, bottom } = frame(img);
    const blue = pixelsOf(img, BLUE).filter(([x, y]) => x > left && x < right && y > top && y < bottom);
    expect(blue.length).toBeGreaterThan(300); // the finite points still make a line across the plot
    expect(Math.min(...blue.map(([x]) => x))).toBeLessThan(left + 0.1 * (right - left));
    expect(Math.max(...blue.map(([x]) => x))).toBeGreaterThan(right - 0.1 * (right - left));
  });

  it('draws axes and "no data" with no series or only empty ones', () => {
    for (const series of [[], [{ label: 'train', points: [] }], [{ label: 'nan', points: [[Number.NaN, Number.NaN]] }]] as Series[][]) {
      const img = decodePng(lineChartPng(series));
      const { left, right, top, bottom } = frame(img);
      let text = 0; // the gray "no data" in the middle of the plot
      const [cx, cy] = [(left + right) / 2, (top + bottom) / 2];
      for (let y = Math.floor(cy - 10); y < cy + 10; y++) for (let x = Math.floor(cx - 30); x < cx + 30; x++) text += is(img, x, y, [110, 110, 110]) ? 1 : 0;
      expect(text).toBeGreaterThan(20);
      expect(swatches(img, BLUE)).toHaveLength(series.length);
    }
  });

  it('handles one point, equal y values and a log axis', () => {
    const one = decodePng(lineChartPng([{ label: 'one', points: [[7, 1.5]] }]));
    expect(pixelsOf(one, BLUE).length).toBeGreaterThan(16 * 8 + 5); // swatch + a dot
    const flat = decodePng(lineChartPng([{ label: 'flat', points: line(20, () => 2) }]));
    const { top, bottom } = frame(flat);
    const rows = new Set(pixelsOf(flat, BLUE).filter(([, y]) => y > top + 30).map(([, y]) => y));
    expect(rows.size).toBeGreaterThan(0);
    expect(Math.abs(Math.min(...rows) - (top + bottom) / 2)).toBeLessThan(3); // centered
    const log = decodePng(lineChartPng([{ label: 'train', points: line(1000, (x) => 5 * Math.exp(-x / 100) - (x === 500 ? 10 : 0)) }], { logY: true }));
    expect(pixelsOf(log, BLUE).length).toBeGreaterThan(500);
  });

  it('renders 10^5 points quickly', () => {
    const points = line(100_000, (x) => 3 / Math.sqrt(1 + x / 100) + 0.2 * Math.sin(x));
    const t = performance.now();
    const img = decodePng(lineChartPng([{ label: 'train', points }, { label: 'eval', points: points.filter((_, i) => i % 1000 === 0) }]));
    expect(performance.now() - t).toBeLessThan(5000);
    expect(pixelsOf(img, BLUE).length).toBeGreaterThan(1000);
    expect(swatches(img, ORANGE)).toHaveLength(1);
  });
});
