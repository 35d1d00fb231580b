/**
 * Bundle the browser page (browser/page.ts -> browser/dist/page.js) with esbuild. The `webgpu`
 * package (Dawn for Node) and node: modules are only reached on Node code paths, so they stay
 * external. Run: `pnpm --filter @kvant/conformance run build:browser`, then serve browser/.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));

/** Build the page bundle; returns the folder to serve. */
export async function buildBrowserPage(): Promise<string> {
  await build({
    entryPoints: [join(here, 'page.ts')],
    outfile: join(here, 'dist', 'page.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    external: ['webgpu', 'node:*'],
    loader: { '.wasm': 'binary' },
    logLevel: 'warning',
  });
  return here;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  buildBrowserPage().then((dir) => console.log(`browser page built: ${dir}/index.html (+ dist/page.js)`));
}
