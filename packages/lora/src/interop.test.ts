/**
 * Interop with PEFT (python3 + torch + transformers + peft; scripts/interop/peft_lora.py) on a tiny
 * LlamaForCausalLM (hidden 64, 2 layers, intermediate 128, vocab 128), plain LoRA and DoRA on every
 * linear layer:
 * - an adapter saved by PEFT loads in kvant, and for each adapted module kvant's LoraLinear output
 *   equals PEFT's lora.Linear output on the same input within 1e-5 (max |Δ| / max |y|);
 * - an adapter written by kvant loads with PeftModel.from_pretrained with no missing or unexpected
 *   keys, and PEFT's module outputs equal kvant's within the same bound;
 * - kvant's trainable-parameter line equals PEFT's print_trainable_parameters.
 * In CI (process.env.CI set) a missing python3/torch/transformers/peft fails instead of skipping.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Runtime, upload } from '@kvant/abi';
import { parseHfConfig, parseStrictJson, SafetensorsFile, toFloat32, writeSafetensors } from '@kvant/formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseModelFromHf } from './hf-base';
import { LoraModel } from './model';
import { loadAdapter, saveAdapter } from './peft-files';
import { get, inCi, peft, pythonEnv, relError, runtimesUnderTest } from './test-support';

const py = pythonEnv();
if (!py.ok && !inCi) console.warn(`PEFT interop tests skipped: python3 with torch, transformers and peft is not available (${py.reason})`);
const TOL = 1e-5;
const runtimes = await runtimesUnderTest();

async function readAll(path: string): Promise<Map<string, Float32Array>> {
  const f = await SafetensorsFile.open(path);
  const out = new Map<string, Float32Array>();
  for (const n of f.names()) out.set(n, toFloat32(await f.read(n), n));
  await f.close();
  return out;
}

/** PEFT's side of one variant, made once and shared by every runtime. */
const made = new Map<boolean, { dir: string; modules: string[]; trainable_line: string }>();
function peftSide(useDora: boolean) {
  let m = made.get(useDora);
  if (!m) {
    const dir = mkdtempSync(join(tmpdir(), 'kvant-peft-'));
    m = { dir, ...peft<{ modules: string[]; trainable_line: string }>({ op: 'make', dir, use_dora: useDora, seed: useDora ? 7 : 3 }) };
    made.set(useDora, m);
  }
  return m;
}

describe.skipIf(!py.ok && !inCi)('PEFT interop', () => {
  afterAll(() => {
    for (const m of made.values()) rmSync(m.dir, { recursive: true, force: true });
  });

  it('has python3 with torch, transformers and peft', () => {
    if (!py.ok) throw new Error(`python3 with torch, transformers and peft is required in CI: ${py.reason}`);
    expect(py.peft).toMatch(/^0\./);
  });

  for (const useDora of [false, true]) {
    for (const { name: rtName, make } of runtimes) {
      describe(`${useDora ? 'DoRA' : 'LoRA'} on ${rtName}`, () => {
        let rt: Runtime;
        let dir: string;
        let made: { dir: string; modules: string[]; trainable_line: string };
        let base: Awaited<ReturnType<typeof baseModelFromHf>>;
        beforeAll(async () => {
          rt = await make();
          made = peftSide(useDora);
          dir = made.dir;
          const tensors = await readAll(join(dir, 'base.safetensors'));
          const config = parseHfConfig(parseStrictJson(readFileSync(join(dir, 'config.json'), 'utf8')), 'config.json');
          base = await baseModelFromHf(rt, config, (n) => tensors.get(n)!, { nameOrPath: dir });
        }, 300_000);
        afterAll(() => {
          rt?.dispose();
        });

        it("loads PEFT's adapter: every module's output equals PEFT's lora.Linear within 1e-5", async () => {
          const model = LoraModel.empty(base);
          await loadAdapter(join(dir, 'peft_adapter'), model);
          expect([...model.layers.keys()].sort()).toEqual([...made.modules].sort());
          const ioT = await readAll(join(dir, 'peft_io.safetensors'));
          let worst = 0;
          for (const module of made.modules) {
            const layer = model.layer(module);
            const xv = ioT.get(`${module}.x`)!;
            const { y } = await layer.forward(upload(rt, 'f32', [6, layer.inFeatures], xv));
            const e = relError(await get(y), ioT.get(`${module}.y`)!);
            worst = Math.max(worst, e);
            expect(e, module).toBeLessThan(TOL);
          }
          console.log(`PEFT → kvant ${useDora ? 'DoRA' : 'LoRA'} on ${rtName}: ${made.modules.length} modules, worst max|Δ|/max|y| = ${worst.toExponential(2)}`);
          model.free();
        });

        it("prints the same trainable-parameter line as PEFT's print_trainable_parameters", async () => {
          const model = await LoraModel.create(base, { r: 4, lora_alpha: 8, target_modules: 'all-linear', use_dora: useDora });
          expect(model.printTrainableParameters(() => {})).toBe(made.trainable_line);
          model.free();
        });

        it('writes an adapter PEFT loads with no missing or unexpected keys, giving the same module outputs', async () => {
          const model = await LoraModel.create(base, { r: 4, lora_alpha: 8, target_modules: 'all-linear', use_dora: useDora, init_lora_weights: false }, 'default', { seed: 5 });
          if (useDora) {
            for (const layer of model.layers.values()) {
              const a = layer.adapter('default');
              rt.write(a.magnitude!, (await get(a.magnitude!)).map((v, j) => v * (1 + 0.05 * Math.sin(j))));
            }
          }
          const adapterDir = join(dir, `kvant_adapter_${rtName}`);
          await saveAdapter(model, adapterDir);
          const ioT = await readAll(join(dir, 'peft_io.safetensors'));
          const tensors: [string, { dtype: 'F32'; shape: number[]; data: Float32Array }][] = [];
          const kvantY = new Map<string, Float32Array>();
          for (const module of made.modules) {
            const layer = model.layer(module);
            const xv = ioT.get(`${module}.x`)!;
            tensors.push([`${module}.x`, { dtype: 'F32', shape: [6, layer.inFeatures], data: xv }]);
            kvantY.set(module, await get((await layer.forward(upload(rt, 'f32', [6, layer.inFeatures], xv))).y));
          }
          await writeSafetensors(join(dir, `kvant_io_${rtName}.safetensors`), tensors);
          const result = peft<{ missing: string[]; unexpected: string[]; warnings: string[]; use_dora: boolean }>({
            op: 'check_kvant',
            dir,
            adapter: adapterDir,
            io: join(dir, `kvant_io_${rtName}.safetensors`),
            out: join(dir, `peft_check_${rtName}.safetensors`),
          });
          expect(result).toEqual({ missing: [], unexpected: [], warnings: [], use_dora: useDora });
          const ys = await readAll(join(dir, `peft_check_${rtName}.safetensors`));
          let worst = 0;
          for (const module of made.modules) {
            const e = relError(kvantY.get(module)!, ys.get(`${module}.y`)!);
            worst = Math.max(worst, e);
            expect(e, module).toBeLessThan(TOL);
          }
          console.log(`kvant → PEFT ${useDora ? 'DoRA' : 'LoRA'} on ${rtName}: ${made.modules.length} modules, worst max|Δ|/max|y| = ${worst.toExponential(2)}`);
          model.free();
        });
      });
    }
  }
});
