/**
 * `pnpm test` after the build and checks: runs vitest and closes with one plain line,
 * `N passed, N failed, N skipped`. In CI (CI=true) a skipped test is a failure: every runtime
 * the suite covers must run for real.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'kvant-test-'));
const report = join(dir, 'vitest.json');
if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = dir;
const r = spawnSync('pnpm', ['exec', 'vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: process.env,
});
let passed = 0;
let failed = 0;
let skipped = 0;
try {
  const json = JSON.parse(readFileSync(report, 'utf8'));
  passed = json.numPassedTests;
  // Failed tests, plus files that failed before running any test (an import error, say).
  const brokenFiles = (json.testResults ?? []).filter((f: { status: string; assertionResults: unknown[] }) => f.status === 'failed' && f.assertionResults.length === 0).length;
  failed = json.numFailedTests + brokenFiles;
  skipped = json.numPendingTests + json.numTodoTests;
} catch {
  failed = Math.max(1, failed);
}
rmSync(dir, { recursive: true, force: true });
const skipFails = Boolean(process.env.CI) && skipped > 0;
if (skipFails) console.error(`CI: ${skipped} skipped test(s); in CI every test must run`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(r.status !== 0 || failed > 0 || skipFails ? 1 : 0);
