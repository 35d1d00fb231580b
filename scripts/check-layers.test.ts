import { describe, expect, it } from 'vitest';
import { checkPackage, isTestFile, kvantImports } from './check-layers';

const src = (path: string, text: string) => ({ path, text });

describe('check-layers', () => {
  it('finds static, dynamic, type-only and deep imports of kvant packages', () => {
    const text = `import { a } from '@kvant/abi';\nimport type { B } from "@kvant/formats/src/x";\nexport * from '@kvant/quant';\nconst r = await import('@kvant/runtimes');\nimport 'node:fs';`;
    expect(kvantImports(text).sort()).toEqual(['@kvant/abi', '@kvant/formats', '@kvant/quant', '@kvant/runtimes']);
  });

  it('accepts quant importing abi and formats', () => {
    const pkg = { name: '@kvant/quant', dependencies: { '@kvant/abi': 'workspace:*', '@kvant/formats': 'workspace:*' } };
    expect(checkPackage(pkg, [src('packages/quant/src/a.ts', "import '@kvant/abi'; import '@kvant/formats';")], 'p.json')).toEqual([]);
  });

  it('refuses an import from a layer above or from the same layer', () => {
    const formats = { name: '@kvant/formats', dependencies: { '@kvant/quant': 'workspace:*' } };
    expect(checkPackage(formats, [src('packages/formats/src/a.ts', "import { x } from '@kvant/quant';")], 'p.json').map((p) => p.message)).toEqual([
      expect.stringContaining('imports @kvant/quant (layer 3), expected only packages below @kvant/formats (layer 2)'),
    ]);
    const lora = { name: '@kvant/lora', dependencies: { '@kvant/optim': 'workspace:*' } };
    expect(checkPackage(lora, [src('packages/lora/src/a.ts', "import '@kvant/optim';")], 'p.json')).toHaveLength(1);
  });

  it('refuses a runtime package outside the packages that choose a runtime, but not in tests', () => {
    const quant = { name: '@kvant/quant', dependencies: { '@kvant/abi': 'workspace:*' } };
    const bad = checkPackage(quant, [src('packages/quant/src/a.ts', "import '@kvant/abi'; import { createRuntime } from '@kvant/runtimes';")], 'p.json');
    expect(bad.map((p) => p.message).join('\n')).toMatch(/runtime package @kvant\/runtimes/);
    expect(bad.map((p) => p.message).join('\n')).toMatch(/does not list under "dependencies"/);
    expect(checkPackage(quant, [src('packages/quant/src/a.ts', "import '@kvant/abi';"), src('packages/quant/src/a.test.ts', "import '@kvant/runtimes';")], 'p.json')).toEqual([]);
  });

  it('refuses a dependency that only tests use', () => {
    const quant = { name: '@kvant/quant', dependencies: { '@kvant/abi': 'workspace:*', '@kvant/reference': 'workspace:*' } };
    const problems = checkPackage(quant, [src('packages/quant/src/a.ts', "import '@kvant/abi';"), src('packages/quant/src/a.test.ts', "import '@kvant/reference';")], 'p.json');
    expect(problems.map((p) => p.message)).toEqual([expect.stringContaining('lists @kvant/reference under "dependencies" but no non-test source imports it')]);
  });

  it('refuses a package without a layer', () => {
    expect(checkPackage({ name: '@kvant/new-thing' }, [], 'p.json')[0].message).toMatch(/has no layer/);
  });

  it('treats test files and test helpers as tests', () => {
    expect(isTestFile('packages/quant/src/a.test.ts')).toBe(true);
    expect(isTestFile('packages/runtime-wasm/src/test-support.ts')).toBe(true);
    expect(isTestFile('packages/runtime-cuda/src/testing.ts')).toBe(true);
    expect(isTestFile('packages/cli/src/hostile/cases.ts')).toBe(true);
    expect(isTestFile('packages/quant/src/quantize.ts')).toBe(false);
  });
});
