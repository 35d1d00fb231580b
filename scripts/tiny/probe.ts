/** Probe a tiny-model folder: prose completion accuracy of every fact, and chat exact-match on the eval data. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Decoder, generate, loadChatTokenizer } from '@kvant/model';
import { createRuntime } from '@kvant/runtimes';
import { exactMatchAccuracy, qaItems } from '@kvant/trainer';
import { answers, factsWorld } from './facts';

const dir = process.argv[2] ?? 'models/tiny';
const quant = process.argv.includes('--nf4') ? { quantType: 'nf4' as const, doubleQuant: true } : undefined;
const rt = await createRuntime('wasm');
const d = await Decoder.fromFolder(rt, dir, { quant });
const ai = process.argv.indexOf('--adapter');
if (ai > 0) await d.loadAdapter(process.argv[ai + 1]);
const chat = await loadChatTokenizer(dir);
const tok = chat.tokenizer;
let ok = 0;
let n = 0;
for (const c of factsWorld().countries) {
  for (const sentence of Object.values(answers(c))) {
    const cut = sentence.lastIndexOf(' ');
    const prompt = tok.encode(sentence.slice(0, cut));
    const out = await generate(d, prompt, { maxNewTokens: 6, decode: (t) => tok.decode(t, { skipSpecialTokens: true }) });
    n++;
    if ((out.text ?? '').startsWith(sentence.slice(cut))) ok++;
  }
}
console.log(`prose completion: ${ok}/${n}`);
const evalItems = qaItems(readFileSync(join('data/tiny-facts/eval.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)));
const em = await exactMatchAccuracy(d, chat, evalItems);
console.log(`chat exact match (eval): ${em.correct}/${em.total}`, em.results.filter((r) => !r.correct).slice(0, 5));
