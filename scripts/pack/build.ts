/**
 * Build the publishable packages to what a user installs: ESM JavaScript, `.d.ts` types and source
 * maps in each package's dist/, plus the assets a package carries (the CUDA addons).
 *
 *   tsx scripts/pack/build.ts [package-dir...]     (default: every publishable package)
 *
 * Each package's tsconfig.build.json (a TypeScript project reference to the packages it depends on)
 * is built by TypeScript's solution builder, incrementally, with one change to plain `tsc -b`: a
 * relative import without an extension (`./tensor`, as the sources write them for tsx and vitest)
 * is emitted as the file Node loads (`./tensor.js`, `./kernels/index.js`), in the JavaScript and in
 * the declarations alike. Every package's `prepack` runs this for itself, so `pnpm pack` and
 * `pnpm publish` always ship a fresh build; inside the workspace nothing reads dist/ (the `exports`
 * of package.json point at src/, `publishConfig` at dist/ for the packed manifest).
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { publishablePackages, ROOT, type WorkspacePackage } from './workspace';

/** `./x` → `./x.js` or `./x/index.js`, by what exists next to the importing source file. */
export function runtimeSpecifier(fromFile: string, specifier: string): string {
  // Relative: `./x`, `../x`, and the `.` / `..` that TypeScript writes for an inferred type (`import("..").KernelSpec`).
  if (!/^\.\.?(\/|$)/.test(specifier)) return specifier;
  if (/\.(m?js|cjs|json|node|wasm)$/.test(specifier)) return specifier;
  const base = resolve(dirname(fromFile), specifier);
  if (/\.m?ts$/.test(specifier) && !specifier.endsWith('.d.ts')) return specifier.replace(/ts$/, 'js');
  if (existsSync(`${base}.ts`)) return `${specifier}.js`;
  if (existsSync(`${base}.mts`)) return `${specifier}.mjs`;
  if (existsSync(join(base, 'index.ts'))) return `${specifier.replace(/\/$/, '')}/index.js`;
  throw new Error(`${fromFile}: cannot tell which file the import '${specifier}' names (no ${base}.ts, no ${base}/index.ts)`);
}

/** The transformer: rewrites static imports, re-exports, `import()` calls and `import('./x').T` types. */
function rewriteSpecifiers(context: ts.TransformationContext, root: ts.SourceFile): ts.SourceFile {
  const f = context.factory;
  const from = ts.getOriginalNode(root).getSourceFile?.()?.fileName ?? root.fileName;
  const literal = (s: ts.StringLiteralLike): ts.StringLiteral | undefined => {
    const to = runtimeSpecifier(from, s.text);
    return to === s.text ? undefined : f.createStringLiteral(to);
  };
  const visit = (node: ts.Node): ts.Node => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const to = literal(node.moduleSpecifier);
      if (to) return f.updateImportDeclaration(node, node.modifiers, node.importClause, to, node.attributes);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const to = literal(node.moduleSpecifier);
      if (to) return f.updateExportDeclaration(node, node.modifiers, node.isTypeOnly, node.exportClause, to, node.attributes);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments.length >= 1 && ts.isStringLiteralLike(node.arguments[0])) {
      const to = literal(node.arguments[0]);
      if (to) return f.updateCallExpression(node, node.expression, node.typeArguments, [to, ...node.arguments.slice(1)]);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      const to = literal(node.argument.literal);
      if (to) return f.updateImportTypeNode(node, f.createLiteralTypeNode(to), node.attributes, node.qualifier, node.typeArguments, node.isTypeOf);
    }
    return ts.visitEachChild(node, visit, context);
  };
  return ts.visitEachChild(root, visit, context);
}

const TRANSFORMERS: ts.CustomTransformers = {
  after: [(context) => (file) => rewriteSpecifiers(context, file)],
  afterDeclarations: [(context) => (node) => (ts.isSourceFile(node) ? rewriteSpecifiers(context, node) : node)],
};

function formatDiagnostic(d: ts.Diagnostic): string {
  return ts.formatDiagnostic(d, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => ROOT, getNewLine: () => '\n' }).trimEnd();
}

/** The files a package's build emits: `.js`, `.js.map` and `.d.ts` for each source of its project. */
function expectedOutputs(configPath: string): { outDir: string; files: Set<string> } {
  const parsed = ts.getParsedCommandLineOfConfigFile(configPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(formatDiagnostic(d)); } });
  if (!parsed) throw new Error(`${configPath}: cannot read`);
  const outDir = parsed.options.outDir!;
  const rootDir = parsed.options.rootDir!;
  const files = new Set<string>();
  for (const f of parsed.fileNames) {
    if (f.endsWith('.d.ts') || f.endsWith('.json')) continue;
    const out = join(outDir, relative(rootDir, f)).replace(/\.m?ts$/, '');
    for (const ext of ['.js', '.js.map', '.d.ts']) files.add(out + ext);
  }
  if (parsed.options.tsBuildInfoFile) files.add(resolve(dirname(configPath), parsed.options.tsBuildInfoFile));
  return { outDir, files };
}

/** Remove what an earlier build left in dist/ that no current source produces (a deleted or renamed module). */
function pruneStale(configPath: string, keep: (path: string) => boolean): void {
  const { outDir, files } = expectedOutputs(configPath);
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (keep(p)) continue;
      if (statSync(p).isDirectory()) {
        walk(p);
        if (readdirSync(p).length === 0) rmSync(p, { recursive: true });
      } else if (!files.has(p)) rmSync(p);
    }
  };
  walk(outDir);
}

/** A relative import that Node cannot load (no extension) in an emitted file: the build is wrong or stale. */
function checkEmitted(outDir: string): string[] {
  const bad: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(js|d\.ts)$/.test(name)) {
        const text = readFileSync(p, 'utf8');
        for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.\.?(?:\/[^'"]*)?)['"]/gm)) {
          if (!/\.(m?js|cjs|json|node|wasm)$/.test(m[1])) bad.push(`${relative(ROOT, p)}: import '${m[1]}' has no extension`);
        }
      }
    }
  };
  if (existsSync(outDir)) walk(outDir);
  return bad;
}

/**
 * The CUDA addons travel inside @kvant/runtime-cuda as dist/prebuilds/<platform>-<arch>/ (where
 * src/addon.ts looks when the package has no build/ folder of its own): the cuda-emu addon, and
 * the nvcc one where this machine could build it, else the reason it could not (kvant_cuda.skipped).
 */
function stageCudaAddons(pkgDir: string, log: (s: string) => void): void {
  const build = join(pkgDir, 'build');
  const target = join(pkgDir, 'dist', 'prebuilds', `${process.platform}-${process.arch}`);
  rmSync(join(pkgDir, 'dist', 'prebuilds'), { recursive: true, force: true });
  if (!existsSync(join(build, 'kvant_cuda_emu.node'))) {
    throw new Error(`${relative(ROOT, build)}/kvant_cuda_emu.node is missing: run \`pnpm --filter @kvant/runtime-cuda build\` before packing`);
  }
  mkdirSync(target, { recursive: true });
  const staged: string[] = [];
  for (const f of ['kvant_cuda_emu.node', 'kvant_cuda.node', 'kvant_cuda.skipped']) {
    if (existsSync(join(build, f))) {
      copyFileSync(join(build, f), join(target, f));
      staged.push(f);
    }
  }
  log(`  @kvant/runtime-cuda: ${staged.join(', ')} -> ${relative(pkgDir, target)}/`);
}

/**
 * Type packages a package's declarations use as globals (GPUDevice, GPUBuffer…): TypeScript does not
 * keep a source's `/// <reference types>` in the emitted .d.ts, so the build writes it back into the
 * entry declaration, where a user's compiler finds it.
 */
const GLOBAL_TYPES: Readonly<Record<string, readonly string[]>> = {
  '@kvant/runtime-webgpu': ['@webgpu/types'],
};

/** The packed manifest's `bin` targets run with plain Node: their shebang names node, not tsx. */
function fixBinShebangs(pkg: WorkspacePackage): void {
  const publish = (pkg.manifest.publishConfig ?? {}) as { bin?: Record<string, string> | string };
  const bin = publish.bin ?? {};
  for (const target of typeof bin === 'string' ? [bin] : Object.values(bin)) {
    const file = join(pkg.dir, target);
    if (!existsSync(file)) throw new Error(`${pkg.name}: publishConfig.bin names ${target}, which the build did not emit`);
    const text = readFileSync(file, 'utf8');
    const fixed = `#!/usr/bin/env node\n${text.startsWith('#!') ? text.slice(text.indexOf('\n') + 1) : text}`;
    if (fixed !== text) writeFileSync(file, fixed);
    chmodSync(file, 0o755);
  }
}

function addGlobalTypes(pkg: WorkspacePackage): void {
  const types = GLOBAL_TYPES[pkg.name];
  if (!types) return;
  const file = join(pkg.dir, 'dist', 'index.d.ts');
  const text = readFileSync(file, 'utf8');
  const missing = types.filter((t) => !text.includes(`<reference types="${t}"`));
  if (missing.length > 0) writeFileSync(file, `${missing.map((t) => `/// <reference types="${t}" />`).join('\n')}\n${text}`);
}

/** Generated sources a runtime package needs before it compiles (its own `build` script writes them). */
const GENERATED: Readonly<Record<string, string>> = {
  '@kvant/runtime-wasm': 'src/generated/wasm-binary.ts',
  '@kvant/runtime-webgpu': 'src/generated/shaders.ts',
};

/** Build `dirs` (package folders; default every publishable package) and their dependencies. Throws on any error. */
export function buildPackages(dirs?: readonly string[], log: (s: string) => void = console.log): void {
  const all = publishablePackages();
  const chosen = dirs ? dirs.map((d) => resolve(d)) : all.map((p) => p.dir);
  for (const dir of chosen) {
    const pkg = all.find((p) => p.dir === dir);
    if (!pkg) throw new Error(`${dir}: not a publishable workspace package (${all.map((p) => relative(ROOT, p.dir)).join(', ')})`);
    const generated = GENERATED[pkg.name];
    if (generated && !existsSync(join(dir, generated))) {
      throw new Error(`${relative(ROOT, join(dir, generated))} is missing: run \`pnpm build\` (the package's build script generates it) before packing`);
    }
  }
  const diagnostics: string[] = [];
  const host = ts.createSolutionBuilderHost(ts.sys, undefined, (d) => diagnostics.push(formatDiagnostic(d)), (d) => log(`  ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`));
  const builder = ts.createSolutionBuilder(
    host,
    chosen.map((d) => join(d, 'tsconfig.build.json')),
    { verbose: false },
  );
  const status = builder.build(undefined, undefined, undefined, () => TRANSFORMERS);
  if (diagnostics.length > 0 || status !== ts.ExitStatus.Success) {
    throw new Error(`the package build failed:\n${diagnostics.join('\n') || `exit status ${status}`}`);
  }
  // Every built project (the chosen ones and what they reference): prune, check, stage assets.
  const built = all.filter((p) => existsSync(join(p.dir, 'dist')));
  const problems: string[] = [];
  for (const p of built) {
    const prebuilds = join(p.dir, 'dist', 'prebuilds');
    pruneStale(join(p.dir, 'tsconfig.build.json'), (path) => path === prebuilds);
    problems.push(...checkEmitted(join(p.dir, 'dist')));
  }
  if (problems.length > 0) throw new Error(`emitted files Node cannot load (delete the package's dist/ and build again):\n${problems.join('\n')}`);
  for (const p of built) {
    fixBinShebangs(p);
    addGlobalTypes(p);
  }
  const cuda = chosen.find((d) => all.find((p) => p.dir === d)?.name === '@kvant/runtime-cuda');
  if (cuda) stageCudaAddons(cuda, log);
  log(`built ${chosen.map((d) => relative(ROOT, d)).join(', ')}`);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  try {
    buildPackages(process.argv.length > 2 ? process.argv.slice(2) : undefined);
  } catch (e) {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  }
}
