/**
 * The workspace's packages as the packaging scripts see them: every package that is not `private`
 * is published, so it builds, packs and must work outside the repository.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');

/** The fields of package.json the packaging scripts read. */
export interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  [field: string]: unknown;
}

export interface WorkspacePackage {
  readonly name: string;
  /** Absolute folder. */
  readonly dir: string;
  readonly manifest: Manifest;
}

/** Folders of the workspace (pnpm-workspace.yaml: packages/*, conformance, bench, scripts). */
export function workspaceDirs(root = ROOT): string[] {
  const packages = join(root, 'packages');
  return [
    ...readdirSync(packages)
      .map((d) => join(packages, d))
      .filter((d) => existsSync(join(d, 'package.json'))),
    ...['conformance', 'bench', 'scripts'].map((d) => join(root, d)),
  ];
}

export function workspacePackages(root = ROOT): WorkspacePackage[] {
  return workspaceDirs(root).map((dir) => {
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
    return { name: manifest.name, dir, manifest };
  });
}

/** The packages a user can install: every workspace package that is not `private`. */
export function publishablePackages(root = ROOT): WorkspacePackage[] {
  return workspacePackages(root).filter((p) => !p.manifest.private);
}
