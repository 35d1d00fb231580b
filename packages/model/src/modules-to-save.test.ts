/** An adapter with modules_to_save copies is refused by the decoder's forward (it would silently run the base tensors). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@kvant/abi';
import { generateExampleModel } from '@kvant/formats';
import { ReferenceRuntime } from '@kvant/reference';
import { afterAll, expect, it } from 'vitest';
import { Decoder } from './decoder';

const dir = mkdtempSync(join(tmpdir(), 'kvant-mts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('forward refuses an active adapter with modules_to_save, naming the copies', async () => {
  await generateExampleModel(join(dir, 'm'), { size: { hidden_size: 32, intermediate_size: 48, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, vocab_size: 280 }, shards: 1 });
  const rt = new ReferenceRuntime();
  const d = await Decoder.fromFolder(rt, join(dir, 'm'));
  const lora = await d.addAdapter({ r: 2, target_modules: ['q_proj'], modules_to_save: ['lm_head'] });
  const batch = { b: 1, t: 3, inputIds: [1, 2, 3] };
  await expect(d.forward(batch)).rejects.toThrow(ConfigError);
  await expect(d.forward(batch)).rejects.toThrow(/modules_to_save.*lm_head/);
  await lora.disableAdapters();
  await expect(d.forward(batch)).resolves.toBeDefined();
});
