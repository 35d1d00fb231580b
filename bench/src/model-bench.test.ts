/**
 * fwdBwdFlops, the lower bound of the model suite's ceiling row: its linear part must equal the
 * matmul flops torch.utils.flop_counter counts for one transformers + PEFT forward + backward of
 * the same model, LoRA config and batch (the attention part is checked by hand: torch's eager
 * attention multiplies the full T x T, not the causal triangle). Needs python3 with torch,
 * transformers and peft: a skip locally, a failure in CI.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BENCH_LORA, benchModels, fwdBwdFlops } from './model-bench';

const tiny = benchModels().find((m) => m.name === 'tiny')!;
const config = JSON.parse(readFileSync(join(tiny.dir, 'config.json'), 'utf8'));

const SCRIPT = `
import json, sys, torch
from transformers import AutoModelForCausalLM
from peft import LoraConfig, get_peft_model
from torch.utils.flop_counter import FlopCounterMode
a = json.loads(sys.stdin.read())
m = AutoModelForCausalLM.from_pretrained(a['dir'], dtype=torch.float32, attn_implementation='eager')
m = get_peft_model(m, LoraConfig(r=a['r'], lora_alpha=a['alpha'], target_modules='all-linear'))
ids = torch.randint(0, m.config.vocab_size, (a['b'], a['t']))
fc = FlopCounterMode(display=False)
with fc:
    m(input_ids=ids, labels=ids).loss.backward()
c = fc.get_flop_counts()['Global']
print(json.dumps({'mm': int(c.get(torch.ops.aten.mm, 0)), 'bmm': int(c.get(torch.ops.aten.bmm, 0))}))
`;

describe('fwdBwdFlops', () => {
  it('counts the tiny model by hand: linears and causal attention', () => {
    const f = fwdBwdFlops(config, 2, 256, 16);
    // Per block the linears have Σ K·N = 184,320 and Σ (K + N) = 2,336; the head is 768 × 128;
    // block 0's q, k, v (Σ K·N = 32,768, Σ K = 384) need no input gradient. M = 512 tokens.
    // Base: forward + input gradient; LoRA: 3·r·(K + N) per token (forward 1, backward 2).
    const mac = 512 * (4 * 184320 * 2 - 32768 + 98304 * 2) + 512 * 16 * (3 * 2336 * 4 - 384);
    expect(f.linears).toBe(2 * mac);
    // forward Q·Kᵀ and P·V, backward four products, over the 256·257/2 causal pairs, 8 heads, D 32.
    expect(f.attention).toBe(2 * 6 * 2 * 4 * ((256 * 257) / 2) * 32 * 4);
  });

  const py = spawnSync('python3', ['-c', 'import torch, transformers, peft'], { encoding: 'utf8' });
  const ok = py.status === 0;
  if (!ok && !process.env.CI) console.warn(`fwdBwdFlops interop skipped: python3 with torch, transformers and peft is missing`);
  (ok || process.env.CI ? it : it.skip)(
    "equals torch's flop counter on the linears (transformers + PEFT, the same LoRA config and batch)",
    () => {
      const input = JSON.stringify({ dir: tiny.dir, r: BENCH_LORA.r, alpha: BENCH_LORA.lora_alpha, b: 2, t: 64 });
      const r = spawnSync('python3', ['-c', SCRIPT], { input, encoding: 'utf8', timeout: 120_000 });
      expect(r.status, r.stderr).toBe(0);
      const torch = JSON.parse(r.stdout.trim().split('\n').pop()!) as { mm: number; bmm: number };
      const f = fwdBwdFlops(config, 2, 64, BENCH_LORA.r);
      expect(f.linears).toBe(torch.mm);
      // torch's eager attention: Q·Kᵀ and P·V over all T² pairs, forward and backward (3 × forward),
      // plus the rotary embedding's inv_freq ⊗ positions product (D/2 × T, one row of positions for the batch).
      expect(torch.bmm).toBe(2 * 6 * 2 * 4 * 64 * 64 * 32 * 4 + 2 * 16 * 64);
    },
    150_000,
  );
});
