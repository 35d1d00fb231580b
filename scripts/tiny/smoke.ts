import { generateExampleModel } from '@kvant/formats';
import { writeFileSync } from 'node:fs';
await generateExampleModel('/tmp/me/t1/model', { force: true, size: { hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 300 }, shards: 1 });
const lines = [];
for (let i = 0; i < 40; i++) lines.push(JSON.stringify({ prompt: [{ role: 'user', content: `What is ${i} plus one?` }], completion: [{ role: 'assistant', content: `${i} plus one is ${i + 1}.` }] }));
writeFileSync('/tmp/me/t1/train.jsonl', lines.join('\n') + '\n');
