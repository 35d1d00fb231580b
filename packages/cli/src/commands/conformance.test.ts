import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../main';

const dir = mkdtempSync(join(tmpdir(), 'kvant-conf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function capture(argv: string[]) {
  let out = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((s: string) => {
    out += s;
    return true;
  }) as typeof process.stdout.write;
  try {
    return { code: await main(argv), out };
  } finally {
    process.stdout.write = write;
  }
}

describe('kvant conformance', () => {
  it('prints the table, writes JSON and the Markdown support table, exits 0 when all pass', async () => {
    const json = join(dir, 'r.json');
    const table = join(dir, 'support.md');
    const r = await capture(['conformance', '--runtime', 'wasm', '--runtime', 'reference', '--kernel', 'quant.nf4_quantize', '--json', json, '--table', table, '--quiet']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/quant\.nf4_quantize\s+pass \(\d+\)\s+pass/);
    expect(r.out).toMatch(/\d+ passed, 0 failed/);
    const data = JSON.parse(readFileSync(json, 'utf8'));
    expect(data.runtimes).toEqual(['wasm', 'reference']);
    expect(data.results.every((x: { kernel: string }) => x.kernel === 'quant.nf4_quantize')).toBe(true);
    expect(readFileSync(table, 'utf8')).toMatch(/\| `quant.nf4_quantize` \| pass/);
  });

  it('exits 1 when a runtime named explicitly cannot start, and says why', async () => {
    const r = await capture(['conformance', '--runtime', 'cuda', '--kernel', 'mem.copy']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/FAIL runtime cuda: .*CUDA/);
  });

  it('rejects an unknown runtime with a typed error', async () => {
    const r = await capture(['conformance', '--runtime', 'tpu']);
    expect(r.code).toBe(1);
  });
});
