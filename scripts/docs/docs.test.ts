/**
 * The runnable examples in docs/ run: every ```ts block under a "Try it" heading is executed
 * with tsx from inside the workspace (so @kvant/* resolve) and must exit 0.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

function tryItBlocks(markdown: string): string[] {
  const section = markdown.split(/^## /m).find((s) => /^\d*\.?\s*Try it/.test(s));
  return section ? [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]) : [];
}

describe('docs examples', () => {
  for (const page of ['quantization.md']) {
    it(`${page}: the "Try it" example runs`, () => {
      const blocks = tryItBlocks(readFileSync(join(root, 'docs', page), 'utf8'));
      expect(blocks.length).toBeGreaterThan(0);
      for (const [i, code] of blocks.entries()) {
        const file = join(root, 'scripts', 'docs', `.example-${page}-${i}.ts`);
        writeFileSync(file, code);
        try {
          const r = spawnSync(join(root, 'node_modules', '.bin', 'tsx'), [file], { cwd: root, encoding: 'utf8', timeout: 120_000 });
          expect(r.status, r.stderr).toBe(0);
          expect(r.stdout).toMatch(/\d\.\d+/);
        } finally {
          rmSync(file, { force: true });
        }
      }
    });
  }
});
