/**
 * The browser page (browser/) in headless Chromium: builds the bundle, serves it on 127.0.0.1,
 * and asserts that every kernel passes on webgpu (SwiftShader's WebGPU adapter) and on wasm.
 * Needs /usr/bin/chromium (scripts/setup-system.sh installs it); in CI its absence is a failure.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { KERNELS } from '@kvant/abi';
import { chromium } from 'playwright-core';
import { afterAll, expect, it } from 'vitest';
import { buildBrowserPage } from './build';
import type { PageResult } from './page';

const CHROMIUM = '/usr/bin/chromium';
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };
let server: Server | undefined;
afterAll(() => server?.close());

function serve(dir: string): Promise<string> {
  server = createServer((req, res) => {
    const path = normalize(join(dir, decodeURIComponent((req.url ?? '/').split('?')[0]).replace(/^\/+/, '') || 'index.html'));
    if (!path.startsWith(dir) || !existsSync(path)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' }).end(readFileSync(path));
  });
  return new Promise((resolve) => server!.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server!.address() as AddressInfo).port}/`)));
}

it('runs the conformance suite on webgpu and wasm in headless Chromium', async (ctx) => {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI) throw new Error(`${CHROMIUM} is missing: run scripts/setup-system.sh`);
    ctx.skip(`${CHROMIUM} is missing (scripts/setup-system.sh installs it)`);
  }
  const url = await serve(await buildBrowserPage());
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await browser.newPage();
    const logs: string[] = [];
    page.on('console', (m) => logs.push(m.text()));
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    await page.goto(url);
    await page.waitForFunction(() => (window as unknown as { __kvantResult?: unknown }).__kvantResult !== undefined, undefined, { timeout: 180_000 });
    const result = (await page.evaluate(() => (window as unknown as { __kvantResult: unknown }).__kvantResult)) as PageResult;
    console.log(`browser adapter: ${result.adapter}; ambiguous elements that differed: ${JSON.stringify(result.ambiguousByRuntime)} ${JSON.stringify(result.ambiguousByKernel)}`);
    expect(result.error, logs.join('\n')).toBeUndefined();
    expect(result.failures).toEqual([]);
    for (const k of KERNELS) {
      // Every kernel runs and passes, except where the browser's adapter has too few storage
      // buffers per stage for it (SwiftShader allows 10; the runtime says so through supports()).
      const limited = /maxStorageBuffersPerShaderStage/.test(result.unsupported[`webgpu ${k.id}`] ?? '');
      expect({ kernel: k.id, ...result.table[k.id] }).toEqual({ kernel: k.id, webgpu: limited ? 'unsupported' : 'pass', wasm: 'pass' });
    }
    console.log(`browser: not run for a device limit: ${JSON.stringify(result.unsupported)}`);
  } finally {
    await browser.close();
  }
});
