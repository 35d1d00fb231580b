/**
 * `pnpm docs`: regenerate what the docs show from code — the quantization figures and error
 * table (docs/quantization.md, docs/figures/), the benchmark figures of bench/results/ (docs/runtimes.md),
 * and the kernel support table (docs/support.md) from a conformance run on every runtime available here.
 */
import { main as benchFigures } from './docs/bench-figures';
import { main as loraFigures } from './docs/lora-figures';
import { main as optimizerFigures } from './docs/optimizer-figures';
import { main as quantizationFigures } from './docs/quantization-figures';
import { main as kvant } from '@kvant/cli';

let code = quantizationFigures([]);
code ||= benchFigures();
code ||= await optimizerFigures();
code ||= await loraFigures();
code ||= await kvant(['conformance', '--table', 'docs/support.md', '--quiet']);
process.exit(code ?? 0);
