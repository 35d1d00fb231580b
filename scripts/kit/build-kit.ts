/**
 * `pnpm kit`: build the portable conformance kit, one tar.xz (under 60 MiB) that runs on a Linux
 * x86-64 machine with an NVIDIA driver and nothing else: no Node, no network, no package install.
 * It carries a Node binary, the bundled JavaScript, the CUDA and cuda-emu addons, and Dawn's
 * dawn.node (WebGPU on the same GPU through Vulkan).
 *
 * usage: tsx scripts/kit/build-kit.ts [--out kit/kvant-kit-linux-x64.tar.xz]
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..', '..');
const MAX_BYTES = 60 * 2 ** 20;

export async function buildKit(archive = join(root, 'kit', 'kvant-kit-linux-x64.tar.xz'), log = console.log): Promise<string> {
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error(`the kit is built on linux-x64, not ${process.platform}-${process.arch}`);
  const stage = join(dirname(archive), 'stage');
  const dir = join(stage, 'kvant-kit');
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'addons'));

  log('bundling the JavaScript');
  await build({
    entryPoints: [join(root, 'scripts', 'kit', 'kit-main.ts')],
    outfile: join(dir, 'kvant-kit.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['webgpu'],
    banner: { js: "import { createRequire as __kvantRequire } from 'node:module'; const require = __kvantRequire(import.meta.url);" },
    logLevel: 'warning',
  });

  log('copying node, the addons and dawn.node');
  copyFileSync(process.execPath, join(dir, 'bin', 'node'));
  chmodSync(join(dir, 'bin', 'node'), 0o755);
  const addons = join(root, 'packages', 'runtime-cuda', 'build');
  for (const f of ['kvant_cuda.node', 'kvant_cuda_emu.node']) {
    if (!existsSync(join(addons, f))) throw new Error(`${join(addons, f)} is missing: run 'pnpm build' first (the CUDA build needs nvcc)`);
    copyFileSync(join(addons, f), join(dir, 'addons', f));
  }
  const req = createRequire(join(root, 'packages', 'runtime-webgpu', 'package.json'));
  const webgpuDir = dirname(req.resolve('webgpu/package.json'));
  const wdir = join(dir, 'node_modules', 'webgpu');
  mkdirSync(join(wdir, 'dist', 'linux-x64'), { recursive: true });
  for (const f of ['index.js', 'package.json', 'LICENSE.md', join('dist', 'linux-x64', 'dawn.node')]) copyFileSync(join(webgpuDir, f), join(wdir, f));

  writeFileSync(
    join(dir, 'run.sh'),
    [
      '#!/bin/sh',
      '# kvant portable conformance kit: conformance on cuda, webgpu and wasm, then the benchmarks.',
      '# usage: ./run.sh [--out DIR] [--runtime R]... [--require R]... [--no-bench]',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
      'here=$(cd "${0%/*}" && pwd)',
      'exec "$here/bin/node" "$here/kvant-kit.mjs" "$@"',
      '',
    ].join('\n'),
  );
  chmodSync(join(dir, 'run.sh'), 0o755);
  writeFileSync(
    join(dir, 'README.txt'),
    [
      'kvant portable conformance kit (linux-x64)',
      '',
      'Needs: an NVIDIA driver for the cuda runtime; a Vulkan loader (libvulkan.so.1) and the',
      'driver\'s Vulkan ICD for webgpu. Nothing else: Node, the addons and Dawn are inside.',
      '',
      '  ./run.sh                    conformance on cuda, webgpu, wasm + benchmarks -> ./kvant-results/',
      '  ./run.sh --require cuda     fail unless CUDA runs',
      '  ./run.sh --no-bench         conformance only',
      '',
      'Results: machine.json, conformance.json, support.md (kernel x runtime), bench.json.',
      '',
    ].join('\n'),
  );

  log(`compressing ${relative(root, archive)}`);
  mkdirSync(dirname(archive), { recursive: true });
  const tmp = `${archive}.tmp`;
  execFileSync('tar', ['-C', stage, '-cf', tmp, '-I', 'xz -T0 -6', 'kvant-kit'], { stdio: 'inherit' });
  const size = statSync(tmp).size;
  if (size > MAX_BYTES) {
    rmSync(tmp);
    throw new Error(`the kit is ${(size / 2 ** 20).toFixed(1)} MiB, over the ${MAX_BYTES / 2 ** 20} MiB limit`);
  }
  execFileSync('mv', [tmp, archive]);
  rmSync(stage, { recursive: true, force: true });
  log(`kit: ${relative(root, archive)} (${(size / 2 ** 20).toFixed(1)} MiB)`);
  return archive;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  await buildKit(values.out);
}
