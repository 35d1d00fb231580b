/**
 * Hand-made SVG charts for the docs: a histogram panel, a line chart and horizontal stacked
 * bars. No dependencies; output is deterministic (fixed decimals) so regenerated figures diff cleanly.
 */

/** A chart part that draws itself into a box of the page. */
export interface Panel {
  render(x: number, y: number, width: number, height: number): string;
}

const FONT = 'font-family="Helvetica, Arial, sans-serif"';
const n2 = (v: number) => (Math.round(v * 100) / 100).toString();

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function text(x: number, y: number, s: string, opts: { size?: number; anchor?: 'start' | 'middle' | 'end'; rotate?: boolean; weight?: string } = {}): string {
  const size = opts.size ?? 12;
  const anchor = opts.anchor ?? 'start';
  const rot = opts.rotate ? ` transform="rotate(-90 ${n2(x)} ${n2(y)})"` : '';
  const weight = opts.weight ? ` font-weight="${opts.weight}"` : '';
  return `<text x="${n2(x)}" y="${n2(y)}" font-size="${size}" text-anchor="${anchor}"${weight}${rot} ${FONT}>${escapeXml(s)}</text>`;
}

/** A whole SVG file made of rendered parts, on a white background, with a title for screen readers. */
export function svgDocument(width: number, height: number, parts: string[], title: string): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= count) ?? 10 * mag;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Math.round(t / step) * step);
  return ticks;
}

function tickLabel(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 1 ? String(Math.round(v * 100) / 100) : String(Number(v.toPrecision(3)));
}

interface Frame {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  sx: (v: number) => number;
  sy: (v: number) => number;
}

/** Plot area with axes, ticks and labels; returns the SVG and the scales. */
function axes(
  box: { x: number; y: number; width: number; height: number },
  xRange: [number, number],
  yRange: [number, number],
  labels: { title: string; xLabel: string; yLabel: string },
  xTicks: { at: number; label: string }[],
  yTickFormat: (v: number) => string = tickLabel,
): { svg: string[]; f: Frame } {
  const x0 = box.x + 64;
  const x1 = box.x + box.width - 16;
  const y0 = box.y + box.height - 92;
  const y1 = box.y + 36;
  const sx = (v: number) => x0 + ((v - xRange[0]) / (xRange[1] - xRange[0])) * (x1 - x0);
  const sy = (v: number) => y0 - ((v - yRange[0]) / (yRange[1] - yRange[0])) * (y0 - y1);
  const svg: string[] = [];
  svg.push(text(box.x + box.width / 2, box.y + 20, labels.title, { size: 13, anchor: 'middle', weight: 'bold' }));
  for (const t of niceTicks(yRange[0], yRange[1])) {
    if (t < yRange[0] || t > yRange[1]) continue;
    svg.push(`<line x1="${n2(x0)}" y1="${n2(sy(t))}" x2="${n2(x1)}" y2="${n2(sy(t))}" stroke="#e8eaed"/>`);
    svg.push(text(x0 - 6, sy(t) + 4, yTickFormat(t), { size: 10, anchor: 'end' }));
  }
  for (const t of xTicks) {
    svg.push(`<line x1="${n2(sx(t.at))}" y1="${n2(y0)}" x2="${n2(sx(t.at))}" y2="${n2(y0 + 4)}" stroke="#5f6368"/>`);
    svg.push(text(sx(t.at), y0 + 16, t.label, { size: 10, anchor: 'middle' }));
  }
  svg.push(`<line x1="${n2(x0)}" y1="${n2(y0)}" x2="${n2(x1)}" y2="${n2(y0)}" stroke="#5f6368"/>`);
  svg.push(`<line x1="${n2(x0)}" y1="${n2(y0)}" x2="${n2(x0)}" y2="${n2(y1)}" stroke="#5f6368"/>`);
  svg.push(text((x0 + x1) / 2, y0 + 34, labels.xLabel, { size: 11, anchor: 'middle' }));
  svg.push(text(box.x + 14, (y0 + y1) / 2, labels.yLabel, { size: 11, anchor: 'middle', rotate: true }));
  return { svg, f: { x0, y0, x1, y1, sx, sy } };
}

function legend(x: number, y: number, items: { label: string; color: string; dashed?: boolean; kind: 'line' | 'box' }[]): string[] {
  const out: string[] = [];
  let cx = x;
  let cy = y;
  for (const it of items) {
    const w = 28 + it.label.length * 6.2;
    if (cx + w > x + 520) {
      cx = x;
      cy += 16;
    }
    out.push(
      it.kind === 'box'
        ? `<rect x="${n2(cx)}" y="${n2(cy - 9)}" width="14" height="10" fill="${it.color}"/>`
        : `<line x1="${n2(cx)}" y1="${n2(cy - 4)}" x2="${n2(cx + 18)}" y2="${n2(cy - 4)}" stroke="${it.color}" stroke-width="2"${it.dashed ? ' stroke-dasharray="5 3"' : ''}/>`,
    );
    out.push(text(cx + 22, cy, it.label, { size: 11 }));
    cx += w;
  }
  return out;
}

export interface HistogramSeries {
  label: string;
  values: Float32Array;
  color: string;
  /** Draw as a step outline instead of filled bars. */
  outline?: boolean;
}

/** Histograms (share of elements per bin, in %) of one or more series, with optional stems at given x. */
export function histogramPanel(opts: {
  title: string;
  xLabel: string;
  range: [number, number];
  bins: number;
  series: HistogramSeries[];
  stems?: { x: number; share: number; color: string }[];
  stemLabel?: string;
}): Panel {
  const [lo, hi] = opts.range;
  const width = (hi - lo) / opts.bins;
  const shares = opts.series.map((s) => {
    const h = new Float64Array(opts.bins);
    for (const v of s.values) {
      const b = Math.floor((v - lo) / width);
      if (b >= 0 && b < opts.bins) h[b]++;
    }
    return h.map((c) => (100 * c) / s.values.length);
  });
  const stems = opts.stems ?? [];
  const yMax = Math.max(...shares.map((h) => Math.max(...h)), ...stems.map((s) => 100 * s.share)) * 1.08;
  return {
    render(x, y, w, h) {
      const xt = niceTicks(lo, hi, 6).map((t) => ({ at: t, label: tickLabel(t) }));
      const { svg, f } = axes({ x, y, width: w, height: h }, [lo, hi], [0, yMax], { title: opts.title, xLabel: opts.xLabel, yLabel: 'share of elements (%)' }, xt);
      opts.series.forEach((s, k) => {
        const hgram = shares[k];
        if (s.outline) {
          let d = `M${n2(f.sx(lo))} ${n2(f.sy(0))}`;
          for (let b = 0; b < opts.bins; b++) d += ` V${n2(f.sy(hgram[b]))} H${n2(f.sx(lo + (b + 1) * width))}`;
          d += ` V${n2(f.sy(0))}`;
          svg.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.2"/>`);
        } else {
          for (let b = 0; b < opts.bins; b++) {
            if (hgram[b] === 0) continue;
            const bx = f.sx(lo + b * width);
            svg.push(`<rect x="${n2(bx)}" y="${n2(f.sy(hgram[b]))}" width="${n2(f.sx(lo + (b + 1) * width) - bx)}" height="${n2(f.y0 - f.sy(hgram[b]))}" fill="${s.color}" fill-opacity="0.7"/>`);
          }
        }
      });
      for (const s of stems) {
        svg.push(`<line x1="${n2(f.sx(s.x))}" y1="${n2(f.y0)}" x2="${n2(f.sx(s.x))}" y2="${n2(f.sy(100 * s.share))}" stroke="${s.color}" stroke-width="2.5"/>`);
        svg.push(`<circle cx="${n2(f.sx(s.x))}" cy="${n2(f.sy(100 * s.share))}" r="3" fill="${s.color}"/>`);
      }
      const items = opts.series.map((s) => ({ label: s.label, color: s.color, kind: s.outline ? ('line' as const) : ('box' as const) }));
      if (stems.length && opts.stemLabel) items.push({ label: opts.stemLabel, color: stems[0].color, kind: 'line' });
      svg.push(...legend(f.x0, f.y0 + 56, items));
      return `<g>\n${svg.join('\n')}\n</g>`;
    },
  };
}

export interface Series {
  label: string;
  color: string;
  points: [number, number][];
  dashed?: boolean;
  marker?: 'circle' | 'cross';
}

/** Lines with markers over given x ticks; the y range fits the data. */
export function lineChart(opts: { title: string; xLabel: string; yLabel: string; xTicks: { at: number; label: string }[]; series: Series[] }): Panel {
  const xs = opts.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = opts.series.flatMap((s) => s.points.map((p) => p[1]));
  const [xlo, xhi] = [Math.min(...xs), Math.max(...xs)];
  const pad = (Math.max(...ys) - Math.min(...ys)) * 0.08;
  const yRange: [number, number] = [Math.min(...ys) - pad, Math.max(...ys) + pad];
  const xPad = (xhi - xlo) * 0.04;
  return {
    render(x, y, w, h) {
      const { svg, f } = axes({ x, y, width: w, height: h }, [xlo - xPad, xhi + xPad], yRange, opts, opts.xTicks);
      for (const s of opts.series) {
        const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${n2(f.sx(p[0]))} ${n2(f.sy(p[1]))}`).join(' ');
        svg.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.8"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
        for (const p of s.points) {
          const px = f.sx(p[0]);
          const py = f.sy(p[1]);
          svg.push(
            s.marker === 'cross'
              ? `<path d="M${n2(px - 4)} ${n2(py - 4)} L${n2(px + 4)} ${n2(py + 4)} M${n2(px - 4)} ${n2(py + 4)} L${n2(px + 4)} ${n2(py - 4)}" stroke="${s.color}" stroke-width="1.5"/>`
              : `<circle cx="${n2(px)}" cy="${n2(py)}" r="3.2" fill="${s.color}"/>`,
          );
        }
      }
      svg.push(...legend(f.x0, f.y0 + 56, opts.series.map((s) => ({ label: s.label, color: s.color, dashed: s.dashed, kind: 'line' as const }))));
      return `<g>\n${svg.join('\n')}\n</g>`;
    },
  };
}

/** Horizontal stacked bars with a total at the end of each bar; a whole SVG document. */
export function stackedBars(opts: {
  title: string;
  unit: string;
  parts: { label: string; color: string }[];
  bars: { label: string; parts: number[] }[];
  /** Room for the bar labels on the left (default 230 px). */
  labelWidth?: number;
}): string {
  const width = 1000;
  const rowH = 28;
  const top = 48;
  const labelW = opts.labelWidth ?? 230;
  const height = top + opts.bars.length * rowH + 80;
  const max = Math.max(...opts.bars.map((b) => b.parts.reduce((a, v) => a + v, 0)));
  const x0 = labelW;
  const x1 = width - 90;
  const sx = (v: number) => x0 + (v / max) * (x1 - x0);
  const out: string[] = [text(width / 2, 24, opts.title, { size: 13, anchor: 'middle', weight: 'bold' })];
  const yEnd = top + opts.bars.length * rowH;
  for (const t of niceTicks(0, max, 6)) {
    out.push(`<line x1="${n2(sx(t))}" y1="${top - 6}" x2="${n2(sx(t))}" y2="${yEnd}" stroke="#e8eaed"/>`);
    out.push(text(sx(t), yEnd + 14, `${tickLabel(t)} ${opts.unit}`, { size: 10, anchor: 'middle' }));
  }
  opts.bars.forEach((b, i) => {
    const y = top + i * rowH;
    out.push(text(x0 - 8, y + rowH / 2 + 4, b.label, { size: 12, anchor: 'end' }));
    let acc = 0;
    b.parts.forEach((v, k) => {
      if (v <= 0) return;
      out.push(`<rect x="${n2(sx(acc))}" y="${y + 5}" width="${n2(sx(acc + v) - sx(acc))}" height="${rowH - 10}" fill="${opts.parts[k].color}"/>`);
      acc += v;
    });
    out.push(text(sx(acc) + 6, y + rowH / 2 + 4, `${acc.toFixed(2)} ${opts.unit}`, { size: 11 }));
  });
  out.push(...legend(x0, yEnd + 44, opts.parts.map((p) => ({ label: p.label, color: p.color, kind: 'box' as const }))));
  return svgDocument(width, height, out, opts.title);
}
