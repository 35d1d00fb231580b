/**
 * A small, dependency-free line chart for loss curves, rendered to an RGB image and encoded as PNG.
 *
 * `renderLineChart` draws a white canvas with a framed plot area, light grid lines at ~5 "nice"
 * ticks (1/2/5 × 10^k; decades on a log y axis) per axis with tick labels, axis labels, an optional
 * title, a legend (a color swatch and a label per series), and each series as an anti-aliased,
 * 2 px thick polyline (a single point is a dot). Points with a non-finite coordinate (or y <= 0 on
 * a log axis) are skipped; with no drawable points at all the axes are drawn with "no data".
 * Segments are drawn column by column (or row by row for steep ones) straight into the pixel
 * buffer, so 10^5 points cost no allocation per point.
 *
 * Text uses a built-in 5×7 bitmap font for ASCII 32–126 (other characters print as '?').
 * `encodePng` writes an 8-bit RGB PNG: signature, IHDR, one IDAT (filter 0 rows, deflated with
 * node:zlib), IEND, each chunk with a table-driven CRC-32.
 */
import { deflateSync } from 'node:zlib';

export interface Series {
  readonly label: string;
  /** [x, y] pairs, drawn in the order given. */
  readonly points: readonly (readonly [number, number])[];
  /** RGB 0–255; default: blue, orange, green, red, … by position. */
  readonly color?: readonly [number, number, number];
}

export interface ChartOptions {
  /** Pixels; default 800. */
  readonly width?: number;
  /** Pixels; default 480. */
  readonly height?: number;
  readonly title?: string;
  /** Default 'step'. */
  readonly xLabel?: string;
  /** Default 'loss'. */
  readonly yLabel?: string;
  /** Logarithmic y axis (points with y <= 0 are skipped). */
  readonly logY?: boolean;
}

/** An RGB image. */
export interface Image {
  readonly width: number;
  readonly height: number;
  /** width × height × 3 bytes, rows top to bottom. */
  readonly rgb: Uint8Array;
}

type Rgb = readonly [number, number, number];

const PALETTE: readonly Rgb[] = [
  [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
  [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
];
const BLACK: Rgb = [0, 0, 0];
const GRID: Rgb = [225, 225, 225];
const MUTED: Rgb = [110, 110, 110];

/** 5×7 glyphs (plus a descender row) for ASCII 32–126: 8 rows of 2 hex digits, bit 4 = leftmost column. */
const FONT: readonly string[] = [
  '0000000000000000', '0404040404000400', '0a0a000000000000', '0a0a1f0a1f0a0a00', '040f140e051e0400', '1819020408130300', '0c12140815120d00', '0404000000000000',
  '0204080808040200', '0804020202040800', '0004150e15040000', '0004041f04040000', '00000000000c0408', '0000000e00000000', '00000000000c0c00', '0001020408100000',
  '0e11131519110e00', '040c040404040e00', '0e11010204081f00', '1f02040201110e00', '02060a121f020200', '1f101e0101110e00', '0608101e11110e00', '1f01020408080800',
  '0e11110e11110e00', '0e11110f01020c00', '000c0c000c0c0000', '000c0c00000c0408', '0204081008040200', '00001f001f000000', '0804020102040800', '0e11010204000400',
  '0e11010d15150e00', '0e11111f11111100', '1e11111e11111e00', '0e11101010110e00', '1c12111111121c00', '1f10101e10101f00', '1f10101e10101000', '0e11101711110f00',
  '1111111f11111100', '0e04040404040e00', '0702020202120c00', '1112141814121100', '1010101010101f00', '111b151511111100', '1111191513111100', '0e11111111110e00',
  '1e11111e10101000', '0e11111115120d00', '1e11111e14121100', '0f10100e01011e00', '1f04040404040400', '1111111111110e00', '11111111110a0400', '1111111515150a00',
  '11110a040a111100', '11110a0404040400', '1f01020408101f00', '0e08080808080e00', '0010080402010000', '0e02020202020e00', '040a110000000000', '0000000000001f00',
  '0804000000000000', '00000e010f110f00', '1010161911111e00', '00000e1010110e00', '01010d1311110f00', '00000e111f100e00', '0609081c08080800', '00000f11110f010e',
  '1010161911111100', '04000c0404040e00', '020006020202120c', '1010121418141200', '0c04040404040e00', '00001a1515111100', '0000161911111100', '00000e1111110e00',
  '00001e11111e1010', '00000f11110f0101', '0000161910101000', '00000f100e011e00', '08081c0808090600', '0000111111130d00', '00001111110a0400', '0000111115150a00',
  '0000110a040a1100', '00001111110f010e', '00001f0204081f00', '0304040804040300', '0404040404040400', '1804040204041800', '0000081502000000',
];
const GLYPH_ADVANCE = 6;
const GLYPH_HEIGHT = 8;

/** A pixel canvas with a clip rectangle (inclusive bounds). */
class Canvas {
  readonly rgb: Uint8Array;
  clip = { x0: 0, y0: 0, x1: 0, y1: 0 };
  constructor(readonly width: number, readonly height: number) {
    this.rgb = new Uint8Array(width * height * 3).fill(255);
    this.resetClip();
  }
  resetClip(): void {
    this.clip = { x0: 0, y0: 0, x1: this.width - 1, y1: this.height - 1 };
  }
  /** Blends `c` over pixel (x, y) with opacity a in [0, 1]. */
  blend(x: number, y: number, c: Rgb, a: number): void {
    const k = this.clip;
    if (a <= 0 || x < k.x0 || x > k.x1 || y < k.y0 || y > k.y1) return;
    const i = (y * this.width + x) * 3;
    const px = this.rgb;
    if (a >= 1) {
      px[i] = c[0];
      px[i + 1] = c[1];
      px[i + 2] = c[2];
    } else {
      px[i] = Math.round(px[i] + (c[0] - px[i]) * a);
      px[i + 1] = Math.round(px[i + 1] + (c[1] - px[i + 1]) * a);
      px[i + 2] = Math.round(px[i + 2] + (c[2] - px[i + 2]) * a);
    }
  }
  fillRect(x: number, y: number, w: number, h: number, c: Rgb): void {
    for (let yy = y; yy < y + h; yy++) for (let xx = x; xx < x + w; xx++) this.blend(xx, yy, c, 1);
  }
  strokeRect(x: number, y: number, w: number, h: number, c: Rgb): void {
    this.fillRect(x, y, w, 1, c);
    this.fillRect(x, y + h - 1, w, 1, c);
    this.fillRect(x, y, 1, h, c);
    this.fillRect(x + w - 1, y, 1, h, c);
  }
  /** Text with its top-left at (x, y); `up`: rotated to read bottom to top, (x, y) its bottom-left. */
  text(s: string, x: number, y: number, c: Rgb, scale = 1, up = false): void {
    for (let i = 0; i < s.length; i++) {
      const code = s.charCodeAt(i);
      const glyph = FONT[code >= 32 && code <= 126 ? code - 32 : 31];
      for (let row = 0; row < GLYPH_HEIGHT; row++) {
        const bits = Number.parseInt(glyph.slice(row * 2, row * 2 + 2), 16);
        for (let col = 0; col < 5; col++) {
          if (!(bits & (16 >> col))) continue;
          const along = (i * GLYPH_ADVANCE + col) * scale;
          const px = up ? x + row * scale : x + along;
          const py = up ? y - along - scale + 1 : y + row * scale;
          this.fillRect(px, py, scale, scale, c);
        }
      }
    }
  }
  /** An anti-aliased segment of thickness 2·hw between float pixel coordinates. */
  segment(x0: number, y0: number, x1: number, y1: number, c: Rgb, hw: number): void {
    const dx = x1 - x0;
    const dy = y1 - y0;
    const steep = Math.abs(dy) > Math.abs(dx);
    // Walk the major axis; at each step paint a minor-axis span whose length keeps the
    // perpendicular thickness constant, with fractional coverage at both ends.
    const [a0, a1, b0, db, da] = steep ? [y0, y1, x0, dx, dy] : [x0, x1, y0, dy, dx];
    const slope = da === 0 ? 0 : db / da;
    const half = hw * Math.sqrt(1 + slope * slope);
    const from = Math.round(Math.min(a0, a1));
    const to = Math.round(Math.max(a0, a1));
    for (let a = from; a <= to; a++) {
      const t = da === 0 ? 0 : Math.min(1, Math.max(0, (a - a0) / da));
      const center = b0 + t * db;
      const lo = center - half;
      const hi = center + half;
      for (let b = Math.floor(lo + 0.5); b <= Math.ceil(hi - 0.5); b++) {
        const cover = Math.min(hi, b + 0.5) - Math.max(lo, b - 0.5);
        if (steep) this.blend(b, a, c, cover);
        else this.blend(a, b, c, cover);
      }
    }
  }
  /** An anti-aliased filled disc. */
  dot(cx: number, cy: number, r: number, c: Rgb): void {
    for (let y = Math.floor(cy - r - 1); y <= Math.ceil(cy + r + 1); y++) {
      for (let x = Math.floor(cx - r - 1); x <= Math.ceil(cx + r + 1); x++) {
        this.blend(x, y, c, Math.min(1, r + 0.5 - Math.hypot(x - cx, y - cy)));
      }
    }
  }
}

const textWidth = (s: string, scale = 1): number => (s.length > 0 ? (s.length * GLYPH_ADVANCE - 1) * scale : 0);

/** Axis ticks: positions in axis units (log10 of y on a log axis), their labels, and the axis range. */
interface Axis {
  readonly lo: number;
  readonly hi: number;
  readonly ticks: readonly number[];
  readonly labels: readonly string[];
}

/** 1, 2 or 5 × 10^k closest above `rough`. */
function niceStep(rough: number): number {
  const mag = 10 ** Math.floor(Math.log10(rough));
  const norm = rough / mag;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

/** Tick labels sharing one format: fixed with the step's decimals, or exponents for very large/small values. */
function formatTicks(values: readonly number[], step: number): string[] {
  const maxAbs = Math.max(...values.map(Math.abs));
  const exponent = maxAbs >= 1e6 || (maxAbs > 0 && maxAbs < 1e-4);
  const digits = exponent
    ? Math.max(0, Math.min(6, Math.floor(Math.log10(maxAbs)) - Math.floor(Math.log10(step) + 1e-9)))
    : Math.max(0, Math.min(10, Math.ceil(-Math.log10(step) - 1e-9)));
  return values.map((v) => {
    if (Math.abs(v) < step * 1e-6) return '0';
    return exponent ? v.toExponential(digits).replace('e+', 'e') : v.toFixed(digits);
  });
}

/** A linear axis over [lo, hi] (lo < hi) padded by 3% each side, ticks at multiples of a nice step. */
function linearAxis(lo: number, hi: number): Axis {
  const pad = (hi - lo) * 0.03;
  const [a, b] = [lo - pad, hi + pad];
  const step = niceStep((b - a) / 5);
  if (!(step > 0 && Number.isFinite(step))) return { lo: a, hi: b, ticks: [], labels: [] };
  const ticks: number[] = [];
  for (let k = Math.ceil(a / step - 1e-9); k <= Math.floor(b / step + 1e-9); k++) ticks.push(k * step);
  return { lo: a, hi: b, ticks, labels: formatTicks(ticks, step) };
}

/** A log axis over [lo, hi] in log10 units: whole decades, else 1-2-5 ticks, else linear ones. */
function logAxis(lo: number, hi: number): Axis {
  const pad = (hi - lo) * 0.03;
  const [a, b] = [lo - pad, hi + pad];
  let values: number[] = [];
  if (b - a >= 3) {
    const step = Math.max(1, Math.round(niceStep((b - a) / 5)));
    for (let k = Math.ceil(a / step) * step; k <= b; k += step) values.push(10 ** k);
  } else {
    for (let k = Math.floor(a); k <= Math.ceil(b); k++) for (const m of [1, 2, 5]) values.push(m * 10 ** k);
    values = values.filter((v) => Math.log10(v) >= a && Math.log10(v) <= b);
    if (values.length < 3) values = linearAxis(10 ** a, 10 ** b).ticks.filter((v) => v > 0 && Math.log10(v) >= a && Math.log10(v) <= b);
  }
  const labels = values.map((v) => {
    const r = Number(v.toPrecision(6));
    return r >= 1e5 || r < 1e-3 ? r.toExponential().replace('e+', 'e') : String(r);
  });
  return { lo: a, hi: b, ticks: values.map(Math.log10), labels };
}

/** [min, max] of the finite values, widened when they are equal; null when there are none. */
function spread(min: number, max: number, equalPad: (v: number) => number): [number, number] | null {
  if (min > max) return null;
  if (min === max) return [min - equalPad(min), max + equalPad(max)];
  return [min, max];
}

export function renderLineChart(series: readonly Series[], options: ChartOptions = {}): Image {
  const width = options.width ?? 800;
  const height = options.height ?? 480;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 160 || height < 120 || width > 16384 || height > 16384) {
    throw new RangeError(`chart size ${width}×${height}: expected integers, 160–16384 wide and 120–16384 high`);
  }
  const logY = options.logY ?? false;
  const xLabel = options.xLabel ?? 'step';
  const yLabel = options.yLabel ?? 'loss';
  const usable = (x: number, y: number): boolean => Number.isFinite(x) && Number.isFinite(y) && (!logY || y > 0);

  let xMin = Infinity, xMax = -Infinity, yMin = Infinity, yMax = -Infinity;
  for (const s of series) {
    for (const [x, y] of s.points) {
      if (!usable(x, y)) continue;
      const ty = logY ? Math.log10(y) : y;
      if (x < xMin) xMin = x;
      if (x > xMax) xMax = x;
      if (ty < yMin) yMin = ty;
      if (ty > yMax) yMax = ty;
    }
  }
  const xs = spread(xMin, xMax, (v) => Math.abs(v) * 0.5 || 1);
  const ys = spread(yMin, yMax, (v) => (logY ? 0.5 : Math.abs(v) * 0.1 || 1));
  const hasData = xs !== null && ys !== null;
  const xAxis = linearAxis(...(xs ?? [0, 1]));
  const yAxis = logY ? logAxis(...(ys ?? [-1, 0])) : linearAxis(...(ys ?? [0, 1]));

  // Layout: margins around the plot area [px0, px1] × [py0, py1] (the frame lies on these bounds).
  const titleScale = options.title && textWidth(options.title, 2) <= width - 20 ? 2 : 1;
  const top = options.title ? 16 + GLYPH_HEIGHT * titleScale : 14;
  const yLabelW = Math.max(0, ...yAxis.labels.map((l) => textWidth(l)));
  const px0 = 10 + (yLabel ? GLYPH_HEIGHT + 8 : 0) + yLabelW + 10;
  const px1 = width - 1 - Math.max(16, Math.ceil(textWidth(xAxis.labels[xAxis.labels.length - 1] ?? '') / 2) + 4);
  const py0 = top;
  const py1 = height - 1 - (xLabel ? 44 : 28);
  if (px1 - px0 < 20 || py1 - py0 < 20) throw new RangeError(`chart size ${width}×${height} leaves no room to plot`);
  const mapX = (v: number): number => px0 + ((v - xAxis.lo) / (xAxis.hi - xAxis.lo)) * (px1 - px0);
  const mapY = (v: number): number => py1 - ((v - yAxis.lo) / (yAxis.hi - yAxis.lo)) * (py1 - py0);

  const cv = new Canvas(width, height);
  for (const t of xAxis.ticks) cv.fillRect(Math.round(mapX(t)), py0, 1, py1 - py0, GRID);
  for (const t of yAxis.ticks) cv.fillRect(px0, Math.round(mapY(t)), px1 - px0, 1, GRID);

  cv.clip = { x0: px0, y0: py0, x1: px1, y1: py1 };
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    let prevX = 0, prevY = 0, drawn = 0;
    for (const [x, y] of s.points) {
      if (!usable(x, y)) continue;
      const sx = mapX(x);
      const sy = mapY(logY ? Math.log10(y) : y);
      if (drawn > 0) cv.segment(prevX, prevY, sx, sy, color, 1);
      prevX = sx;
      prevY = sy;
      drawn++;
    }
    if (drawn === 1) cv.dot(prevX, prevY, 2.5, color);
  });
  cv.resetClip();

  // Frame, ticks and their labels.
  cv.strokeRect(px0, py0, px1 - px0 + 1, py1 - py0 + 1, BLACK);
  xAxis.ticks.forEach((t, i) => {
    const x = Math.round(mapX(t));
    cv.fillRect(x, py1 + 1, 1, 5, BLACK);
    cv.text(xAxis.labels[i], x - Math.floor(textWidth(xAxis.labels[i]) / 2), py1 + 9, BLACK);
  });
  yAxis.ticks.forEach((t, i) => {
    const y = Math.round(mapY(t));
    cv.fillRect(px0 - 5, y, 5, 1, BLACK);
    cv.text(yAxis.labels[i], px0 - 8 - textWidth(yAxis.labels[i]), y - 3, BLACK);
  });
  const midX = Math.round((px0 + px1) / 2);
  const midY = Math.round((py0 + py1) / 2);
  if (xLabel) cv.text(xLabel, midX - Math.floor(textWidth(xLabel) / 2), py1 + 25, BLACK);
  if (yLabel) cv.text(yLabel, 10, midY + Math.floor(textWidth(yLabel) / 2), BLACK, 1, true);
  if (options.title) cv.text(options.title, Math.round(width / 2 - textWidth(options.title, titleScale) / 2), 8, BLACK, titleScale);
  if (!hasData) cv.text('no data', midX - Math.floor(textWidth('no data') / 2), midY - 3, MUTED);

  // Legend in the top-right corner of the plot area: a swatch and a label per series.
  if (series.length > 0) {
    const rows = Math.min(series.length, Math.floor((py1 - py0 - 12) / 12));
    const boxW = 8 + 16 + 6 + Math.max(...series.map((s) => textWidth(s.label))) + 8;
    const boxH = 8 + rows * 12;
    const bx = px1 - 8 - boxW;
    const by = py0 + 8;
    cv.fillRect(bx, by, boxW, boxH, [255, 255, 255]);
    cv.strokeRect(bx, by, boxW, boxH, [160, 160, 160]);
    for (let i = 0; i < rows; i++) {
      const ry = by + 6 + i * 12;
      cv.fillRect(bx + 8, ry, 16, 8, series[i].color ?? PALETTE[i % PALETTE.length]);
      cv.text(series[i].label, bx + 30, ry + 1, BLACK);
    }
  }
  return { width, height, rgb: cv.rgb };
}

let crcTable: Uint32Array | undefined;

function crc32(bytes: Uint8Array, crc = 0xffffffff): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return crc;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, (crc32(out.subarray(4, 8 + data.length)) ^ 0xffffffff) >>> 0);
  return out;
}

export function encodePng(image: Image): Uint8Array {
  const { width, height, rgb } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || rgb.length !== width * height * 3) {
    throw new RangeError(`PNG of ${width}×${height}: expected positive integer sizes and ${width * height * 3} bytes, got ${rgb.length}`);
  }
  const header = new Uint8Array(13);
  const hv = new DataView(header.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit, RGB, deflate, filter method 0, no interlace
  const stride = width * 3;
  const raw = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) raw.set(rgb.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const parts = [
    Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a),
    chunk('IHDR', header),
    chunk('IDAT', new Uint8Array(deflateSync(raw))),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function lineChartPng(series: readonly Series[], options?: ChartOptions): Uint8Array {
  return encodePng(renderLineChart(series, options));
}
