/**
 * The packages as a user gets them. Packs every publishable package (`pnpm pack`), installs the
 * tarballs with npm into fresh projects outside the workspace, and there, in plain Node 20 (no tsx,
 * no TypeScript, no NODE_OPTIONS, no workspace bins on PATH):
 * - `npm install @kvant/quant` alone brings neither Dawn (`webgpu`) nor node-addon-api nor the CUDA addon;
 * - @kvant/quant quantizes and dequantizes a tensor on the wasm runtime, with the bytes the workspace's sources compute;
 * - the installed `kvant` bin prints its version and quantizes the example model, byte for byte as the sources do;
 * - a TypeScript project typechecks against the installed `.d.ts` files (nodenext, no skipLibCheck);
 * - a page importing @kvant/quant, @kvant/runtime-webgpu (and @kvant/runtimes) bundles with esbuild, no
 *   configuration, and runs in headless Chromium on SwiftShader's WebGPU adapter.
 * Needs the npm registry for third-party dependencies, and /usr/bin/chromium (scripts/setup-system.sh).
 * KVANT_PACK_KEEP=1 keeps the temporary folder (printed) for a look.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { dequantize, quantize } from '@kvant/quant';
import { createRuntime } from '@kvant/runtimes';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installedBin, npmProject, packAll, plainNode, readJson, sha256, type Tarball, tarballProblems } from './pack';
import { ROOT } from './workspace';

const CHROMIUM = '/usr/bin/chromium';
const work = mkdtempSync(join(tmpdir(), 'kvant-pack-'));
let tarballs: Tarball[] = [];
let server: Server | undefined;

beforeAll(async () => {
  tarballs = await packAll(join(work, 'tarballs'));
}, 300_000);

afterAll(() => {
  server?.close();
  if (process.env.KVANT_PACK_KEEP) console.log(`pack test: kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
});

/** The tensor every check quantizes: 64 x 64 values of a sine, absmax 0.5. */
const SCRIPT_TENSOR = 'const w = new Float32Array(64 * 64); for (let i = 0; i < w.length; i++) w[i] = Math.sin(i * 0.37) * 0.5;';
const OPTIONS = { quantType: 'nf4', blocksize: 64, doubleQuant: true } as const;

/** The same tensor, quantized here from the workspace's sources (the oracle for the installed packages). */
async function fromSources(): Promise<{ codes: string; values: string }> {
  const w = new Float32Array(64 * 64);
  for (let i = 0; i < w.length; i++) w[i] = Math.sin(i * 0.37) * 0.5;
  const rt = await createRuntime('wasm');
  try {
    const q = await quantize(rt, w, [64, 64], OPTIONS);
    if (q.format === 'linear') throw new Error('expected a 4-bit result');
    const back = await dequantize(rt, q);
    return { codes: sha256(q.packed), values: sha256(new Uint8Array(back.buffer, back.byteOffset, back.byteLength)) };
  } finally {
    rt.dispose();
  }
}

describe('the packages as a user installs them', () => {
  it('packs every publishable package with built JavaScript, types, a README and a LICENSE, and nothing from the workspace', () => {
    expect(tarballs.map((t) => t.name).sort()).toEqual(
      ['abi', 'cli', 'conformance', 'formats', 'lora', 'model', 'optim', 'quant', 'reference', 'runtime-cuda', 'runtime-wasm', 'runtime-webgpu', 'runtimes', 'trainer'].map((n) => `@kvant/${n}`),
    );
    expect(tarballs.flatMap(tarballProblems)).toEqual([]);
    for (const t of tarballs) expect(t.files, t.name).toContain('dist/index.d.ts');
    const cuda = tarballs.find((t) => t.name === '@kvant/runtime-cuda')!;
    expect(cuda.files).toContain(`dist/prebuilds/${process.platform}-${process.arch}/kvant_cuda_emu.node`);
    // The nvcc addon where this machine could build it, else the reason it could not.
    expect(cuda.files.some((f) => /prebuilds\/[^/]+\/kvant_cuda\.(node|skipped)$/.test(f))).toBe(true);
  });

  it('npm install @kvant/quant alone pulls neither Dawn nor node-addon-api nor the CUDA addon; with @kvant/runtime-wasm it quantizes in plain Node', async () => {
    const dir = join(work, 'quant-user');
    await npmProject(dir, tarballs, ['@kvant/quant']);
    const installed = (scope: string) => (existsSync(join(dir, 'node_modules', scope)) ? readdirSync(join(dir, 'node_modules', scope)) : []);
    expect(installed('@kvant').sort()).toEqual(['abi', 'formats', 'quant']);
    for (const heavy of ['webgpu', 'node-addon-api', '@kvant/runtime-cuda', '@kvant/runtime-webgpu']) expect(existsSync(join(dir, 'node_modules', heavy)), heavy).toBe(false);

    await npmProject(dir, tarballs, ['@kvant/quant', '@kvant/runtime-wasm']);
    expect(existsSync(join(dir, 'node_modules', 'webgpu'))).toBe(false);
    expect(existsSync(join(dir, 'node_modules', 'tsx')) || existsSync(join(dir, 'node_modules', 'typescript'))).toBe(false);
    writeFileSync(
      join(dir, 'quantize.mjs'),
      [
        "import { createHash } from 'node:crypto';",
        "import { dequantize, errorStats, quantize } from '@kvant/quant';",
        "import { createWasmRuntime } from '@kvant/runtime-wasm';",
        'const rt = await createWasmRuntime();',
        SCRIPT_TENSOR,
        `const q = await quantize(rt, w, [64, 64], ${JSON.stringify(OPTIONS)});`,
        'const back = await dequantize(rt, q);',
        "const sha = (b) => createHash('sha256').update(b).digest('hex');",
        'console.log(JSON.stringify({ runtime: rt.name, stats: errorStats(w, back), codes: sha(q.packed), values: sha(new Uint8Array(back.buffer)) }));',
        'rt.dispose();',
      ].join('\n'),
    );
    const result = JSON.parse(await plainNode(dir, ['quantize.mjs'])) as { runtime: string; stats: { meanAbsError: number }; codes: string; values: string };
    expect(result.runtime).toBe('wasm');
    expect(result.stats.meanAbsError).toBeGreaterThan(0);
    expect(result.stats.meanAbsError).toBeLessThan(0.05);
    expect({ codes: result.codes, values: result.values }).toEqual(await fromSources());
  }, 180_000);

  describe('a project that installs every package', () => {
    const dir = join(work, 'full-user');
    beforeAll(async () => {
      await npmProject(
        dir,
        tarballs,
        tarballs.map((t) => t.name),
      );
    }, 240_000);

    it("typechecks against the packages' .d.ts files under TypeScript's strictest resolution (nodenext, no skipLibCheck)", async () => {
      const names = tarballs.map((t) => t.name);
      // One value from each package, so every package's declarations (and what they import) are read.
      const imports: Record<string, string> = {
        '@kvant/abi': 'KERNELS',
        '@kvant/cli': 'main',
        '@kvant/conformance': 'runConformance',
        '@kvant/formats': 'decodeSafetensors',
        '@kvant/lora': 'LoraLinear',
        '@kvant/model': 'Decoder',
        '@kvant/optim': 'AdamW',
        '@kvant/quant': 'quantize',
        '@kvant/reference': 'createReferenceRuntime',
        '@kvant/runtime-cuda': 'createCudaRuntime',
        '@kvant/runtime-wasm': 'createWasmRuntime',
        '@kvant/runtime-webgpu': 'createWebGpuRuntime',
        '@kvant/runtimes': 'createRuntime',
        '@kvant/trainer': 'Trainer',
      };
      expect(Object.keys(imports).sort()).toEqual([...names].sort());
      writeFileSync(
        join(dir, 'types.mts'),
        [
          ...Object.entries(imports).map(([pkg, name]) => `import { ${name} } from '${pkg}';`),
          "import { dequantize } from '@kvant/quant';",
          'const rt = await createWasmRuntime();',
          "const q = await quantize(rt, new Float32Array(64), [64], { quantType: 'nf4', blocksize: 64 });",
          'const back: Float32Array = await dequantize(rt, q);',
          'const device: GPUDevice | undefined = undefined; // the WebGPU types come with @kvant/runtime-webgpu',
          `export const used = [back, device, ${Object.values(imports).join(', ')}];`,
        ].join('\n'),
      );
      const config = { compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')] }, files: ['types.mts'] };
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(config, null, 2));
      // The user's compiler (the workspace's TypeScript), over the installed packages only.
      await plainNode(dir, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.']);
    }, 120_000);

    it('runs `kvant --version` and `kvant quantize` on the example model from the installed bin, as the sources do', async () => {
      const cli = tarballs.find((t) => t.name === '@kvant/cli')!;
      const bin = (cli.manifest.bin as Record<string, string> | undefined)?.kvant;
      expect(bin).toBe('./dist/bin.js');
      expect(readFileSync(join(dir, 'node_modules', '@kvant', 'cli', bin!), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
      expect((await installedBin(dir, 'kvant', ['--version'])).trim()).toBe(`kvant ${cli.version}`);

      writeFileSync(join(dir, 'example.mjs'), "import { generateExampleModel } from '@kvant/formats';\nawait generateExampleModel(process.argv[2]);\n");
      await plainNode(dir, ['example.mjs', join(dir, 'example-model')]);
      const report = JSON.parse(await installedBin(dir, 'kvant', ['quantize', join(dir, 'example-model'), '--out', join(dir, 'example-nf4'), '--double-quant', '--json'])) as Record<string, unknown>;
      expect(report).toBeTypeOf('object');
      const config = readJson(join(dir, 'example-nf4', 'config.json')) as { quantization_config?: { bnb_4bit_quant_type?: string; bnb_4bit_use_double_quant?: boolean } };
      expect(config.quantization_config).toMatchObject({ bnb_4bit_quant_type: 'nf4', bnb_4bit_use_double_quant: true });

      // The same command from the workspace's sources writes the same bytes.
      const fromSources = join(work, 'example-nf4-sources');
      const { spawnSync } = await import('node:child_process');
      const r = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsx'), ['packages/cli/src/bin.ts', 'quantize', join(dir, 'example-model'), '--out', fromSources, '--double-quant', '--json'], { cwd: ROOT, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      for (const f of readdirSync(fromSources)) expect(sha256(readFileSync(join(dir, 'example-nf4', f))), f).toBe(sha256(readFileSync(join(fromSources, f))));
    }, 120_000);

    it('bundles a page importing @kvant/quant and @kvant/runtime-webgpu with esbuild (no configuration) that headless Chromium runs on WebGPU', async (ctx) => {
      if (!existsSync(CHROMIUM)) {
        if (process.env.CI) throw new Error(`${CHROMIUM} is missing: run scripts/setup-system.sh`);
        ctx.skip(`${CHROMIUM} is missing (scripts/setup-system.sh installs it)`);
      }
      const page = join(dir, 'page');
      mkdirSync(page, { recursive: true });
      writeFileSync(join(page, 'index.html'), '<!doctype html>\n<meta charset="utf-8">\n<title>kvant in a page</title>\n<script type="module" src="./bundle.js"></script>\n');
      writeFileSync(
        join(page, 'main.js'),
        [
          "import { dequantize, errorStats, quantize } from '@kvant/quant';",
          "import { createRuntime } from '@kvant/runtimes';",
          "import { createWebGpuRuntime } from '@kvant/runtime-webgpu';",
          'async function run() {',
          '  const rt = await createWebGpuRuntime();',
          `  ${SCRIPT_TENSOR}`,
          `  const q = await quantize(rt, w, [64, 64], ${JSON.stringify(OPTIONS)});`,
          '  const back = await dequantize(rt, q);',
          '  const result = { runtime: rt.name, adapter: rt.info().description, stats: errorStats(w, back) };',
          '  rt.dispose();',
          "  result.cuda = await createRuntime('cuda').then(() => 'created', (e) => e.message);",
          '  return result;',
          '}',
          'run().then((r) => { window.__kvantResult = r; }, (e) => { window.__kvantResult = { error: String((e && e.stack) || e) }; });',
        ].join('\n'),
      );
      // As a user would: no externals, no aliases; the packages' `browser` maps and `sideEffects` do the rest.
      await build({ absWorkingDir: dir, entryPoints: ['page/main.js'], outfile: 'page/bundle.js', bundle: true, format: 'esm', platform: 'browser', target: 'es2022', logLevel: 'silent' });
      const bundle = readFileSync(join(page, 'bundle.js'), 'utf8');
      expect(bundle).not.toMatch(/^import\s.*from\s*["'](node:|webgpu)/m);

      const url = await serve(page);
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      });
      try {
        const tab = await browser.newPage();
        const logs: string[] = [];
        tab.on('console', (m) => logs.push(m.text()));
        tab.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
        await tab.goto(url);
        await tab.waitForFunction(() => (window as unknown as { __kvantResult?: unknown }).__kvantResult !== undefined, undefined, { timeout: 90_000 });
        const result = (await tab.evaluate(() => (window as unknown as { __kvantResult: unknown }).__kvantResult)) as {
          error?: string;
          runtime: string;
          adapter: string;
          stats: { meanAbsError: number };
          cuda: string;
        };
        expect(result.error, logs.join('\n')).toBeUndefined();
        expect(result.runtime).toBe('webgpu');
        expect(result.stats.meanAbsError).toBeGreaterThan(0);
        expect(result.stats.meanAbsError).toBeLessThan(0.05);
        expect(result.cuda).toMatch(/not available in a browser/);
        console.log(`pack test: the page ran on ${result.adapter}; mean abs error ${result.stats.meanAbsError}`);
      } finally {
        await browser.close();
      }
    }, 180_000);
  });
});

function serve(dir: string): Promise<string> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript' };
  server = createServer((req, res) => {
    const path = normalize(join(dir, decodeURIComponent((req.url ?? '/').split('?')[0]).replace(/^\/+/, '') || 'index.html'));
    if (!path.startsWith(dir) || !existsSync(path)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' }).end(readFileSync(path));
  });
  return new Promise((resolve) => server!.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server!.address() as AddressInfo).port}/`)));
}
