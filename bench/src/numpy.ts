/**
 * The machine's native sgemm as the baseline of the matmul benchmarks: numpy (OpenBLAS or
 * whatever BLAS it was built with) through `python3`, timed in the same run, with one thread and
 * with every core. When python3 or numpy is missing, the result says why instead.
 */
import { spawnSync } from 'node:child_process';

export interface SgemmShape {
  readonly name: string;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  /** B stored [n, k] (the linear layer's x·Wᵀ). */
  readonly transB: boolean;
}

export interface SgemmResult {
  readonly name: string;
  readonly threads: number;
  readonly medianMs: number;
  readonly gflopPerS: number;
}

export type NumpyBaseline = { readonly ok: true; readonly blas: string; readonly results: readonly SgemmResult[] } | { readonly ok: false; readonly reason: string };

const SCRIPT = `
import json, sys, time
import numpy as np
try:
    from threadpoolctl import threadpool_info
    blas = "; ".join(f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, {i.get('num_threads')} threads)" for i in threadpool_info())
except Exception:
    blas = "numpy " + np.__version__
shapes = json.loads(sys.argv[1])
out = []
rng = np.random.default_rng(0)
for s in shapes:
    a = rng.standard_normal((s["m"], s["k"]), dtype=np.float32)
    b = rng.standard_normal((s["n"], s["k"]) if s["transB"] else (s["k"], s["n"]), dtype=np.float32)
    f = (lambda: a @ b.T) if s["transB"] else (lambda: a @ b)
    f()
    times = []
    budget = time.perf_counter() + 1.5
    while len(times) < 3 or (time.perf_counter() < budget and len(times) < 50):
        t = time.perf_counter(); f(); times.append(time.perf_counter() - t)
    times.sort()
    med = times[len(times) // 2]
    out.append({"name": s["name"], "medianMs": med * 1e3, "gflopPerS": 2 * s["m"] * s["n"] * s["k"] / med / 1e9})
print(json.dumps({"blas": blas, "results": out}))
`;

/** Time numpy's sgemm on `shapes` with each thread count. */
export function numpySgemm(shapes: readonly SgemmShape[], threadCounts: readonly number[]): NumpyBaseline {
  const results: SgemmResult[] = [];
  let blas = '';
  for (const threads of threadCounts) {
    // OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set on some of these machines to work around old
    // OpenBLAS bugs; they slow a current numpy, so they are unset for the baseline only.
    const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) };
    delete env.OPENBLAS_CORETYPE;
    delete env.OPENBLAS_L2_SIZE;
    const r = spawnSync('python3', ['-c', SCRIPT, JSON.stringify(shapes)], { env, encoding: 'utf8', timeout: 300_000 });
    if (r.error) return { ok: false, reason: `python3 could not run: ${r.error.message}` };
    if (r.status !== 0) return { ok: false, reason: `numpy is not usable: ${(r.stderr || '').trim().split('\n').slice(-1)[0]}` };
    const parsed = JSON.parse(r.stdout) as { blas: string; results: { name: string; medianMs: number; gflopPerS: number }[] };
    blas = parsed.blas;
    for (const x of parsed.results) results.push({ ...x, threads });
  }
  return { ok: true, blas, results };
}
