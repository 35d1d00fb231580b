/**
 * The wasm runtime's worker pool: T - 1 workers (worker_threads in Node, Web Workers in a
 * cross-origin-isolated page) that each instantiate the threaded kernels module over the runtime's
 * one shared memory, and wait on a control block. A split dispatch writes the job into the block,
 * wakes them, runs part 0 on the calling thread, and waits until every worker has done its part.
 * Nothing is copied: params, bindings and tensors are already in the shared memory.
 *
 * Control block (Int32 words of its own SharedArrayBuffer):
 *   0 job sequence (bumped per job; workers wait on it)   1 workers done with the current job
 *   2 index of the part export                            3 params pointer   4 bindings pointer
 *   5 parts                                               6 quit flag        7 failures
 *   8 + w: scratch pointer of part w
 */

const SEQ = 0;
const DONE = 1;
const FN = 2;
const PARAMS = 3;
const BINDINGS = 4;
const PARTS = 5;
const QUIT = 6;
const FAILED = 7;
const SCRATCH = 8;

/** The job loop every worker runs, shared by the Node and the browser wrappers below. */
const LOOP = `
function kvantWorker(init, report) {
  const { module, memory, control, index, names } = init;
  const instance = new WebAssembly.Instance(module, {
    env: { memory, abort: (m, f, line, col) => { throw new Error('abort() in the kernels module at ' + line + ':' + col); } },
  });
  const fns = names.map((n) => instance.exports[n]);
  const c = new Int32Array(control);
  let seen = Atomics.load(c, ${SEQ});
  report({ ready: true });
  for (;;) {
    Atomics.wait(c, ${SEQ}, seen);
    const now = Atomics.load(c, ${SEQ});
    if (now === seen) continue;
    seen = now;
    if (Atomics.load(c, ${QUIT})) return;
    const parts = c[${PARTS}];
    if (index < parts) {
      try {
        fns[c[${FN}]](c[${PARAMS}], c[${BINDINGS}], index, parts, c[${SCRATCH} + index]);
      } catch (e) {
        Atomics.add(c, ${FAILED}, 1);
        report({ error: String((e && e.message) || e) });
      }
    }
    Atomics.add(c, ${DONE}, 1);
    Atomics.notify(c, ${DONE});
  }
}
`;

const NODE_WORKER = `${LOOP}
const { parentPort, workerData } = require('node:worker_threads');
kvantWorker(workerData, (m) => parentPort.postMessage(m));
`;

const BROWSER_WORKER = `${LOOP}
self.onmessage = (ev) => kvantWorker(ev.data, (m) => self.postMessage(m));
`;

interface WorkerHandle {
  terminate(): unknown;
}

/** Why threads cannot be used in this environment, or undefined when they can. */
export function threadsUnavailable(): string | undefined {
  if (typeof SharedArrayBuffer === 'undefined') return 'SharedArrayBuffer is not available (a page needs cross-origin isolation for threads)';
  const g = globalThis as { crossOriginIsolated?: boolean; window?: unknown; process?: { versions?: { node?: string } } };
  if (g.window !== undefined && g.crossOriginIsolated === false) return 'the page is not cross-origin isolated (COOP/COEP headers), so memory cannot be shared with workers';
  return undefined;
}

/** Cores of this machine (Node: availableParallelism; browser: hardwareConcurrency). */
export async function defaultThreads(): Promise<number> {
  const g = globalThis as { navigator?: { hardwareConcurrency?: number }; process?: { versions?: { node?: string } } };
  if (g.process?.versions?.node) {
    const os = await import('node:os');
    return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  }
  return Math.max(1, g.navigator?.hardwareConcurrency ?? 1);
}

export class ThreadPool {
  private readonly control: Int32Array;
  private readonly workers: WorkerHandle[] = [];
  private readonly errors: string[] = [];
  /** Atomics.wait is not allowed on a browser's main thread: spin there instead. */
  private canBlock = true;
  private disposed = false;

  private constructor(readonly threads: number) {
    this.control = new Int32Array(new SharedArrayBuffer(4 * (SCRATCH + threads)));
  }

  /**
   * Start `threads - 1` workers over `memory`, each instantiating `module` and resolving the part
   * exports `names` (by index, as `run` names them). Resolves when every worker is ready.
   */
  static async start(threads: number, module: WebAssembly.Module, memory: WebAssembly.Memory, names: readonly string[]): Promise<ThreadPool> {
    const pool = new ThreadPool(threads);
    const control = pool.control.buffer;
    const ready: Promise<void>[] = [];
    const isNode = Boolean((globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node);
    const WorkerThreads = isNode ? await import('node:worker_threads') : undefined;
    for (let index = 1; index < threads; index++) {
      const init = { module, memory, control, index, names: [...names] };
      ready.push(
        new Promise<void>((resolve, reject) => {
          const onMessage = (m: { ready?: boolean; error?: string }): void => {
            if (m.ready) resolve();
            if (m.error) pool.errors.push(`worker ${index}: ${m.error}`);
          };
          if (WorkerThreads) {
            const w = new WorkerThreads.Worker(NODE_WORKER, { eval: true, workerData: init });
            w.on('message', (m: { ready?: boolean; error?: string }) => {
              onMessage(m);
              if (m.ready) w.unref(); // once started, an undisposed runtime must not keep the process alive
            });
            w.on('error', (e) => reject(e));
            pool.workers.push(w);
          } else {
            const url = URL.createObjectURL(new Blob([BROWSER_WORKER], { type: 'text/javascript' }));
            const w = new Worker(url);
            w.onmessage = (ev: MessageEvent) => onMessage(ev.data);
            w.onerror = (ev: ErrorEvent) => reject(new Error(ev.message));
            w.postMessage(init);
            pool.workers.push(w);
          }
        }),
      );
    }
    try {
      await Promise.all(ready);
    } catch (e) {
      pool.dispose();
      throw e;
    }
    return pool;
  }

  /**
   * Run a split job: parts 1..parts-1 on the workers, part 0 by `runPart0` on this thread; returns
   * when every part is done. `scratch[w]` is part w's private working memory.
   */
  run(fn: number, params: number, bindings: number, parts: number, scratch: readonly number[], runPart0: () => void): void {
    const c = this.control;
    c[FN] = fn;
    c[PARAMS] = params;
    c[BINDINGS] = bindings;
    c[PARTS] = parts;
    for (let w = 0; w < parts; w++) c[SCRATCH + w] = scratch[w];
    Atomics.store(c, DONE, 0);
    Atomics.store(c, FAILED, 0);
    Atomics.add(c, SEQ, 1);
    Atomics.notify(c, SEQ);
    let part0: unknown;
    try {
      runPart0();
    } catch (e) {
      part0 = e;
    }
    // Every worker answers every job (those past `parts` at once), so wait for all of them.
    const workers = this.threads - 1;
    for (let done = Atomics.load(c, DONE); done < workers; done = Atomics.load(c, DONE)) {
      if (this.canBlock) {
        try {
          Atomics.wait(c, DONE, done);
        } catch {
          this.canBlock = false;
        }
      }
    }
    if (part0 !== undefined) throw part0;
    if (Atomics.load(c, FAILED) > 0) throw new Error(`a worker failed in its part${this.errors.length ? `: ${this.errors.join('; ')}` : ''}`);
  }

  /** Stop and terminate every worker. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    Atomics.store(this.control, QUIT, 1);
    Atomics.add(this.control, SEQ, 1);
    Atomics.notify(this.control, SEQ);
    for (const w of this.workers) w.terminate();
  }
}
