import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkPublishable, checkWorkspacePackages, entryTargets, filesInclude, nodeOnlyImports, packedManifest } from './check-packages';
import { runtimeSpecifier } from './pack/build';
import { ROOT } from './pack/workspace';

/** A manifest that passes: what every publishable package looks like. */
const good = {
  name: '@kvant/quant',
  version: '0.1.0',
  type: 'module',
  license: 'MIT',
  repository: { type: 'git', url: 'git+https://example.invalid/kvant.git', directory: 'packages/quant' },
  engines: { node: '>=20.10' },
  sideEffects: false,
  browser: { 'node:path': false },
  exports: { '.': './src/index.ts' },
  files: ['dist', '!dist/.tsbuildinfo'],
  publishConfig: { exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' } }, types: './dist/index.d.ts' },
  dependencies: { '@kvant/abi': 'workspace:*' },
};
const context = { privatePackages: new Set(['@kvant/bench']), hasFile: () => true, buildReferences: ['@kvant/abi'], nodeOnlyImports: ['node:path'] };
const messages = (m: Record<string, unknown>, c: Partial<typeof context> = {}) => checkPublishable(m as typeof good, 'p.json', { ...context, ...c }).map((p) => p.message);

describe('check-packages', () => {
  it('passes a package whose packed exports point at dist/ and whose workspace exports point at src/', () => {
    expect(messages(good)).toEqual([]);
    expect(packedManifest(good).exports).toEqual(good.publishConfig.exports);
  });

  it('fails an export that hands a user a .ts file', () => {
    const { publishConfig: _, ...noPublish } = good;
    expect(messages(noPublish).join('\n')).toMatch(/exports\["\."\] hands a user the TypeScript source \.\/src\/index\.ts/);
    const bin = { ...good, publishConfig: { ...good.publishConfig, bin: { kvant: './src/bin.ts' } } };
    expect(messages(bin).join('\n')).toMatch(/bin\.kvant hands a user the TypeScript source/);
  });

  it('fails an export naming a file that "files" leaves out of the tarball', () => {
    const lib = { ...good, publishConfig: { exports: { '.': { types: './lib/index.d.ts', default: './lib/index.js' } } } };
    expect(messages(lib)).toEqual([expect.stringMatching(/exports\["\."\]\["types"\] names \.\/lib\/index\.d\.ts, which "files"/), expect.stringMatching(/\["default"\] names \.\/lib\/index\.js/)]);
    const negated = { ...good, files: ['dist', '!dist/index.js'] };
    expect(messages(negated)).toEqual([expect.stringMatching(/names \.\/dist\/index\.js, which "files"/)]);
  });

  it('fails a package without files, license, repository, engines, sideEffects, README or LICENSE', () => {
    const { files: _f, license: _l, repository: _r, engines: _e, sideEffects: _s, ...bare } = good;
    const found = messages(bare, { hasFile: () => false }).join('\n');
    for (const what of ['"files"', '"license"', '"repository"', '"engines"', '"sideEffects"', 'README.md', 'LICENSE']) expect(found).toContain(what);
  });

  it('fails a dependency on a private package, build references that differ from the dependencies, and an unmapped Node builtin', () => {
    expect(messages({ ...good, dependencies: { '@kvant/abi': 'workspace:*', '@kvant/bench': 'workspace:*' } }, { buildReferences: ['@kvant/abi', '@kvant/bench'] })).toEqual([
      expect.stringMatching(/depends on @kvant\/bench, a private workspace package/),
    ]);
    expect(messages(good, { buildReferences: [] })).toEqual([expect.stringMatching(/tsconfig\.build\.json references \[\], expected .*@kvant\/abi/)]);
    expect(messages(good, { nodeOnlyImports: ['node:path', 'webgpu'] })).toEqual([expect.stringMatching(/import webgpu, which "browser" does not replace.*"webgpu": false/)]);
    // A package with a browser entry of its own needs no map.
    const own = { ...good, browser: undefined, publishConfig: { exports: { '.': { types: './dist/index.d.ts', browser: './dist/browser.js', default: './dist/index.js' } } } };
    expect(messages(own, { nodeOnlyImports: ['node:fs'] })).toEqual([]);
  });

  it('reads entry points from exports (nested conditions), main, types, bin and a browser map', () => {
    const targets = entryTargets({ name: 'x', version: '1', exports: { '.': { node: { default: './a.js' } }, './b': './b.js' }, main: './m.js', bin: { k: './k.js' }, browser: { './m.js': './mb.js', fs: false } });
    expect(targets.map((t) => t.path).sort()).toEqual(['a.js', 'b.js', 'k.js', 'm.js', 'mb.js']);
  });

  it('follows npm\'s "files" rules', () => {
    expect(filesInclude(['dist'], 'dist/a/b.js')).toBe(true);
    expect(filesInclude(['dist'], 'src/a.ts')).toBe(false);
    expect(filesInclude(['dist/**/*.js'], 'dist/a/b.js')).toBe(true);
    expect(filesInclude(['dist/*.js'], 'dist/a/b.js')).toBe(false);
    expect(filesInclude(['dist', '!dist/.tsbuildinfo'], 'dist/.tsbuildinfo')).toBe(false);
    expect(filesInclude(['dist'], 'README.md')).toBe(true);
  });

  it('finds the Node-only modules sources import', () => {
    expect(nodeOnlyImports(["import { a } from 'node:fs';\nconst w = await import('webgpu');\nexport * from './x';\nimport 'node:os';\nimport { b } from '@kvant/abi';"])).toEqual(['node:fs', 'node:os', 'webgpu']);
  });

  it('passes the workspace as it is', () => {
    expect(checkWorkspacePackages()).toEqual([]);
  });
});

describe('the package build', () => {
  it('emits the file Node loads for an import without an extension', () => {
    const from = join(ROOT, 'packages', 'abi', 'src', 'index.ts');
    expect(runtimeSpecifier(from, './kernels')).toBe('./kernels/index.js');
    expect(runtimeSpecifier(from, './errors')).toBe('./errors.js');
    expect(runtimeSpecifier(from, './errors.js')).toBe('./errors.js');
    expect(runtimeSpecifier(from, '@kvant/formats')).toBe('@kvant/formats');
    expect(runtimeSpecifier(from, '../package.json')).toBe('../package.json');
    expect(() => runtimeSpecifier(from, './no-such-module')).toThrow(/cannot tell which file/);
  });
});
