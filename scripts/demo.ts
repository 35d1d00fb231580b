/**
 * `pnpm demo`: the main job on the embedded default. Generates the example Llama-layout model
 * (deterministic, into .cache/example-model), prints its memory table, quantizes it to NF4 with
 * double quantization on the default runtime (wasm) into out/example-nf4, and prints the
 * per-module bytes, bits per parameter and error statistics. Then the QLoRA path as far as it is
 * built: the 4-bit folder loaded into the decoder, LoRA adapters on every linear layer, a few AdamW
 * steps on one sentence (the loss falls), and the adapter saved in PEFT's format. (The trainer —
 * `kvant train` on a real dataset — is the next issue.)
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { memoryCommand, quantizeCommand } from '@kvant/cli';
import { generateExampleModel } from '@kvant/formats';
import { Decoder, generate, loadChatTokenizer } from '@kvant/model';
import { AdamW } from '@kvant/optim';
import { createRuntime, DEFAULT_RUNTIME } from '@kvant/runtimes';

const root = join(import.meta.dirname, '..');
const model = join(root, '.cache', 'example-model');
const out = join(root, 'out', 'example-nf4');

if (!existsSync(join(model, 'config.json'))) {
  console.log(`generating the example model in ${model}`);
  await generateExampleModel(model, { force: true });
}
console.log('\n== kvant memory (the example model) ==\n');
let code = await memoryCommand.run([model, '--lora-r', '16']);
console.log('\n== kvant memory phi-3-mini (the course example: 2.21 GB with NF4) ==\n');
code ||= await memoryCommand.run(['phi-3-mini']);
console.log('\n== kvant quantize (NF4 + double quantization, default runtime) ==\n');
code ||= await quantizeCommand.run([model, '--out', out, '--quant-type', 'nf4', '--double-quant', '--force']);
if (code === 0) code = await qloraSteps();
process.exit(code);

/** The 4-bit folder in the decoder, LoRA on every linear layer, a few AdamW steps on one sentence. */
async function qloraSteps(): Promise<number> {
  console.log('\n== QLoRA on the 4-bit folder: LoRA r=16 on every linear layer, AdamW steps on one sentence ==\n');
  const rt = await createRuntime(DEFAULT_RUNTIME);
  const adapterDir = join(root, 'out', 'example-lora');
  try {
    const decoder = await Decoder.fromFolder(rt, out);
    const lora = await decoder.addAdapter({ r: 16, lora_alpha: 32, target_modules: 'all-linear' });
    lora.printTrainableParameters();
    const { tokenizer } = await loadChatTokenizer(out);
    const ids = tokenizer.encode('The quick brown fox jumps over the lazy dog.');
    const batch = { b: 1, t: ids.length, inputIds: ids, labels: ids };
    const optimizer = new AdamW(rt, decoder.trainable(), { lr: 3e-3, weightDecay: 0 });
    const started = Date.now();
    const steps = 20;
    for (let step = 1; step <= steps; step++) {
      const { loss } = await decoder.forward(batch, { training: true });
      await decoder.backward();
      optimizer.step();
      optimizer.zeroGrad();
      if (step === 1 || step % 4 === 0) console.log(`step ${step}: loss ${loss?.toFixed(4)}`);
    }
    console.log(`${steps} steps in ${((Date.now() - started) / 1000).toFixed(1)} s on ${rt.info().description} (the base is random; the adapter learns the sentence)`);
    const prompt = tokenizer.encode('The quick brown');
    const { text } = await generate(decoder, prompt, { maxNewTokens: 8, decode: (t) => tokenizer.decode(t, { skipSpecialTokens: true }) });
    console.log(`greedy continuation of "The quick brown": ${JSON.stringify(text)}`);
    await decoder.saveAdapter(adapterDir, { force: true });
    console.log(`adapter (PEFT format): ${adapterDir}`);
    decoder.dispose();
    return 0;
  } finally {
    rt.dispose();
  }
}
