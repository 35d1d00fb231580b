/** `pnpm bench --only TEXT`: the kernel suites run just the benchmarks whose name contains TEXT, and the copy. */
import { describe, expect, it } from 'vitest';
import { benchMain } from './main';

async function names(args: string[]): Promise<string[]> {
  const lines: string[] = [];
  expect(await benchMain([...args, '--runtime', 'wasm', '--time', '5', '--n', '65536'], (l) => lines.push(l))).toBe(0);
  // A result line: the runtime padded to 14 columns, a space, the name padded to 46.
  return lines.filter((l) => l.startsWith('wasm ')).map((l) => l.slice(15, 61).trim());
}

describe('pnpm bench --only', () => {
  it('keeps the matching quant benchmarks and the copy', async () => {
    const all = await names(['--suite', 'quant']);
    const only = await names(['--suite', 'quant', '--only', 'NF4 DEQUANT']);
    expect(only[0]).toMatch(/^copy\b/);
    expect(only.length).toBeGreaterThan(1);
    for (const name of only.slice(1)) expect(name).toMatch(/^nf4 dequantize/);
    // Every nf4 dequantize benchmark of the full suite, and nothing else.
    expect(only.slice(1)).toEqual(all.filter((n) => n.startsWith('nf4 dequantize')));
    expect(all.length).toBeGreaterThan(only.length);
  });
});
