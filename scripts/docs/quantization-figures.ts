/**
 * Figures and the error table of docs/quantization.md, computed with the reference kernels
 * (the definition of every kvant kernel) on seeded random data, so every number is reproducible.
 *
 *   tsx scripts/docs/quantization-figures.ts [--check]
 *
 * Writes docs/figures/nf4-histogram.svg, docs/figures/quant-error-by-blocksize.svg and
 * docs/figures/memory-phi-3-mini.svg, prints the error table as Markdown and puts it between
 * `<!-- error-table:start -->` and `<!-- error-table:end -->` in docs/quantization.md.
 * With --check it exits 1 when a measured error is above bitsandbytes' test limit.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FP4_CODE, NF4_CODE, type Params, padTo4 } from '@kvant/abi';
import { BNB_4BIT_ERRORS, errorStats, findPreset, memoryReport } from '@kvant/quant';
import { getNibble, randn, referenceKernels } from '@kvant/reference';
import { type Series, lineChart, svgDocument, histogramPanel, stackedBars } from './svg';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIGURES = join(ROOT, 'docs', 'figures');
const PAGE = join(ROOT, 'docs', 'quantization.md');
const SEED = 20240229;

// ---------------------------------------------------------------------------------------------
// Seeded normal samples: mulberry32 (32-bit state) and Box-Muller.


// ---------------------------------------------------------------------------------------------
// 4-bit round trip through the reference kernels.

const bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Quantize with quant.nf4_quantize / quant.fp4_quantize and dequantize with quant.dequantize_4bit. */
export function roundTrip4bit(x: Float32Array, type: 'nf4' | 'fp4', blocksize: number) {
  const n = x.length;
  const params: Params = { n, blocksize };
  const blocks = Math.ceil(n / blocksize);
  const packed = new Uint8Array(padTo4(Math.ceil(n / 2)));
  const absmax = new Float32Array(blocks);
  referenceKernels[`quant.${type}_quantize`].run(params, { x: bytes(x), packed, absmax: bytes(absmax) });
  const out = new Float32Array(n);
  const code = Float32Array.from(type === 'nf4' ? NF4_CODE : FP4_CODE);
  referenceKernels['quant.dequantize_4bit'].run(params, { packed, absmax: bytes(absmax), code: bytes(code), out: bytes(out) });
  return { packed, absmax, out };
}

/** bitsandbytes' test metrics: mean |A - A'| and mean |A - A'| / (|A| + 1e-8). */
export function errors(a: Float32Array, b: Float32Array): { abs: number; rel: number } {
  const e = errorStats(a, b);
  return { abs: e.meanAbsError, rel: e.meanRelError };
}

const BNB_EXPECTED = BNB_4BIT_ERRORS;

const BLOCKSIZES = [32, 64, 128, 256, 512, 1024, 2048, 4096];

/** randn(1024x1024) samples per configuration; bitsandbytes' means average 200 samples. */
const SAMPLES = 8;

interface ErrorRow {
  type: 'nf4' | 'fp4';
  blocksize: number;
  /** Means over the samples. */
  abs: number;
  rel: number;
  /** Largest sample values (bitsandbytes' test asserts each sample below its limit). */
  maxAbs: number;
  maxRel: number;
  withinLimits: boolean;
}

function measureErrors(): ErrorRow[] {
  const samples = Array.from({ length: SAMPLES }, (_, k) => randn(1024 * 1024, SEED + k));
  const rows: ErrorRow[] = [];
  for (const type of ['nf4', 'fp4'] as const) {
    for (const blocksize of BLOCKSIZES) {
      const errs = samples.map((a) => errors(a, roundTrip4bit(a, type, blocksize).out));
      const abs = errs.reduce((acc, e) => acc + e.abs, 0) / SAMPLES;
      const rel = errs.reduce((acc, e) => acc + e.rel, 0) / SAMPLES;
      const maxAbs = Math.max(...errs.map((e) => e.abs));
      const maxRel = Math.max(...errs.map((e) => e.rel));
      const e = BNB_EXPECTED[type][blocksize];
      rows.push({ type, blocksize, abs, rel, maxAbs, maxRel, withinLimits: maxAbs < e.absLimit && maxRel < e.relLimit });
    }
  }
  return rows;
}

function errorTableMarkdown(rows: ErrorRow[]): string {
  const lines = [
    '| type | blocksize | mean abs err (kvant) | bitsandbytes mean (limit) | mean rel err (kvant) | bitsandbytes mean (limit) | every sample within limits |',
    '|---|---:|---:|---:|---:|---:|:---:|',
  ];
  for (const r of rows) {
    const e = BNB_EXPECTED[r.type][r.blocksize];
    lines.push(
      `| ${r.type.toUpperCase()} | ${r.blocksize} | ${r.abs.toFixed(6)} | ${e.abs.toFixed(6)} (${e.absLimit.toFixed(6)}) | ` +
        `${r.rel.toFixed(6)} | ${e.rel.toFixed(6)} (${e.relLimit.toFixed(6)}) | ${r.withinLimits ? 'yes' : '**no**'} |`,
    );
  }
  lines.push('');
  lines.push(
    `kvant: mean over ${SAMPLES} samples of randn(1024×1024) in f32 (mulberry32 + Box-Muller, seeds ${SEED}…${SEED + SAMPLES - 1}), ` +
      'quantized with the reference kernels `quant.nf4_quantize` / `quant.fp4_quantize` and restored with `quant.dequantize_4bit`. ' +
      'bitsandbytes: means over 200 samples on an RTX 4090; its test asserts each sample below the limit (mean + 7σ). ' +
      'Regenerate with `tsx scripts/docs/quantization-figures.ts`.',
  );
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Figures.

function histogramFigure(): string {
  const rows = 256;
  const cols = 1024;
  const blocksize = 64;
  const w = randn(rows * cols, SEED + 1, 0.02);
  const { packed, absmax, out } = roundTrip4bit(w, 'nf4', blocksize);
  // scaled values s = w * (1/absmax) before quantization, as the kernel sees them
  const s = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) s[i] = w[i] * Math.fround(1 / absmax[Math.floor(i / blocksize)]);
  const levelShare = new Float64Array(16);
  for (let i = 0; i < w.length; i++) levelShare[getNibble(packed, i)]++;
  const left = histogramPanel({
    title: `Weights w ~ N(0, 0.02²), ${rows}×${cols}: before and after NF4 (blocksize ${blocksize})`,
    xLabel: 'weight value',
    range: [-0.09, 0.09],
    bins: 180,
    series: [
      { label: 'original', values: w, color: '#9aa0a6' },
      { label: 'NF4 dequantized', values: out, color: '#1a73e8', outline: true },
    ],
  });
  const right = histogramPanel({
    title: 'Scaled values s = w / absmax(block) and the 16 NF4 levels',
    xLabel: 's (the value the 4-bit code is chosen for)',
    range: [-1.05, 1.05],
    bins: 105,
    series: [{ label: 'before: s', values: s, color: '#9aa0a6' }],
    stems: Array.from(NF4_CODE, (v, k) => ({ x: v, share: levelShare[k] / w.length, color: '#e8710a' })),
    stemLabel: 'after: share of elements on each NF4 level',
  });
  return svgDocument(1200, 420, [left.render(0, 0, 600, 420), right.render(600, 0, 600, 420)], 'NF4: weight histogram before and after quantization, with the 16 levels');
}

function errorFigure(rows: ErrorRow[]): string {
  const xs = BLOCKSIZES.map((b) => Math.log2(b));
  const series = (metric: 'abs' | 'rel'): Series[] =>
    (['nf4', 'fp4'] as const).flatMap((type) => {
      const color = type === 'nf4' ? '#1a73e8' : '#d93025';
      return [
        { label: `${type.toUpperCase()} kvant`, color, points: rows.filter((r) => r.type === type).map((r, i) => [xs[i], r[metric]] as [number, number]) },
        {
          label: `${type.toUpperCase()} bitsandbytes mean`,
          color,
          dashed: true,
          marker: 'cross' as const,
          points: BLOCKSIZES.map((b, i) => [xs[i], BNB_EXPECTED[type][b][metric]] as [number, number]),
        },
      ];
    });
  const xTicks = BLOCKSIZES.map((b) => ({ at: Math.log2(b), label: String(b) }));
  const abs = lineChart({ title: 'Mean absolute error on randn(1024×1024)', xLabel: 'blocksize', yLabel: 'mean |A − A′|', xTicks, series: series('abs') });
  const rel = lineChart({ title: 'Mean relative error', xLabel: 'blocksize', yLabel: 'mean |A − A′| / (|A| + 1e-8)', xTicks, series: series('rel') });
  return svgDocument(1200, 420, [abs.render(0, 0, 600, 420), rel.render(600, 0, 600, 420)], 'NF4 and FP4 error by blocksize next to the bitsandbytes means');
}

function memoryFigure(): { svg: string; nf4Footprint: number } {
  const preset = findPreset('phi-3-mini')!;
  const r = memoryReport(preset.config, { loraR: 16 });
  const GB = 1e9;
  const P = r.parameters;
  const nf4dq = r.weights.find((w) => w.format === 'nf4+dq')!;
  const bars = [
    ...r.weights.map((w) => ({
      label: `${w.format} weights`,
      parts: [w.linearDataBytes, w.linearStatsBytes, w.restBytes, 0, 0],
    })),
    ...r.training.map((t) => {
      const states = t.gradientBytes + t.optimizerBytes;
      const adapters = 4 * t.trainableParameters;
      const parts: Record<typeof t.name, number[]> = {
        'full-fp32': [4 * P.linear, 0, 4 * P.rest, 0, states],
        'full-mixed-bf16': [2 * P.linear, 0, 2 * P.rest, 0, states],
        lora: [2 * P.linear, 0, 2 * P.rest, adapters, states],
        qlora: [nf4dq.linearDataBytes, nf4dq.linearStatsBytes, nf4dq.restBytes, adapters, states],
      };
      return { label: t.description, parts: parts[t.name] };
    }),
  ].map((b) => ({ label: b.label, parts: b.parts.map((v) => v / GB) }));
  const svg = stackedBars({
    title: `${preset.huggingFaceId}: ${(P.total / 1e9).toFixed(2)}B parameters (rest in bf16, LoRA r=16 on qkv_proj,o_proj; activations not counted)`,
    unit: 'GB',
    parts: [
      { label: 'linear weights (data)', color: '#1a73e8' },
      { label: 'quantization statistics', color: '#e8710a' },
      { label: 'embeddings, norms, lm_head', color: '#9aa0a6' },
      { label: 'LoRA adapters (fp32)', color: '#9334e6' },
      { label: 'gradients + optimizer states', color: '#d93025' },
    ],
    bars,
  });
  return { svg, nf4Footprint: r.weights.find((w) => w.format === 'nf4')!.footprintBytes };
}

function insertTable(markdown: string): boolean {
  let page: string;
  try {
    page = readFileSync(PAGE, 'utf8');
  } catch {
    return false;
  }
  const start = '<!-- error-table:start -->';
  const end = '<!-- error-table:end -->';
  const i = page.indexOf(start);
  const j = page.indexOf(end);
  if (i < 0 || j < i) return false;
  writeFileSync(PAGE, `${page.slice(0, i + start.length)}\n${markdown}\n${page.slice(j)}`);
  return true;
}

/** Compute everything, write the figures and the table; returns the exit code. */
export function main(argv: string[]): number {
  mkdirSync(FIGURES, { recursive: true });
  const rows = measureErrors();
  const table = errorTableMarkdown(rows);
  process.stdout.write(`${table}\n\n`);
  writeFileSync(join(FIGURES, 'quant-error-by-blocksize.svg'), errorFigure(rows));
  writeFileSync(join(FIGURES, 'nf4-histogram.svg'), histogramFigure());
  const memory = memoryFigure();
  writeFileSync(join(FIGURES, 'memory-phi-3-mini.svg'), memory.svg);
  process.stdout.write(`Phi-3-mini NF4 + bf16 get_memory_footprint: ${(memory.nf4Footprint / 1e9).toFixed(2)} GB (${memory.nf4Footprint} bytes)\n`);
  process.stdout.write(`figures written to ${FIGURES}\n`);
  process.stdout.write(insertTable(table) ? `table inserted into ${PAGE}\n` : `no error-table markers in ${PAGE}; table not inserted\n`);
  const bad = rows.filter((r) => !r.withinLimits);
  for (const r of bad) process.stderr.write(`above bitsandbytes' limit: ${r.type} blocksize ${r.blocksize}: max abs ${r.maxAbs}, max rel ${r.maxRel}\n`);
  return argv.includes('--check') && bad.length ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main(process.argv.slice(2));
