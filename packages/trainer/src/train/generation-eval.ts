/**
 * Exact-match accuracy of generated answers: for each conversational prompt/completion record, the
 * prompt goes through the chat template with the generation prompt, the model answers greedily until
 * EOS, and the answer counts when its text (special tokens skipped, whitespace trimmed) equals the
 * reference completion's content. What the demo reports before and after fine-tuning.
 */
import { applyChatTemplate, type ChatMessage, type ChatTokenizer, type Decoder, generate, selectChatTemplate } from '@kvant/model';
import { DataConfigError } from '../data/errors';

/** One question and its reference answer. */
export interface QaItem {
  readonly messages: readonly ChatMessage[];
  readonly answer: string;
}

/** One answer as judged. */
export interface QaResult {
  readonly question: string;
  readonly expected: string;
  readonly got: string;
  readonly correct: boolean;
}

export interface ExactMatch {
  readonly accuracy: number;
  readonly correct: number;
  readonly total: number;
  readonly results: readonly QaResult[];
}

/** QA items from conversational prompt/completion records (as JSONL rows parse). */
export function qaItems(records: readonly unknown[], where = 'records'): QaItem[] {
  return records.map((r, i) => {
    const rec = r as { prompt?: ChatMessage[]; completion?: ChatMessage[] };
    const answer = rec.completion?.find((m) => m.role === 'assistant')?.content;
    if (!Array.isArray(rec.prompt) || typeof answer !== 'string') {
      throw new DataConfigError(`${where}[${i}]`, 'a conversational prompt/completion record ({"prompt": [...], "completion": [{"role": "assistant", ...}]})', JSON.stringify(r).slice(0, 80));
    }
    return { messages: rec.prompt, answer };
  });
}

/** Generate an answer for every item and compare it with the reference (greedy, until EOS or maxNewTokens). */
export async function exactMatchAccuracy(decoder: Decoder, chat: ChatTokenizer, items: readonly QaItem[], options: { maxNewTokens?: number } = {}): Promise<ExactMatch> {
  const tok = chat.tokenizer;
  const template = selectChatTemplate(chat.chatTemplates, 'the model folder');
  const eos = tok.eosTokenId;
  const results: QaResult[] = [];
  for (const item of items) {
    const { ids } = applyChatTemplate(tok, template, item.messages, { addGenerationPrompt: true });
    const out = await generate(decoder, ids, {
      maxNewTokens: options.maxNewTokens ?? 24,
      eosTokenIds: eos === undefined ? undefined : [eos],
      decode: (t) => tok.decode(t, { skipSpecialTokens: true }),
    });
    const got = (out.text ?? '').trim();
    results.push({ question: item.messages[item.messages.length - 1]?.content ?? '', expected: item.answer.trim(), got, correct: got === item.answer.trim() });
  }
  const correct = results.filter((r) => r.correct).length;
  return { accuracy: items.length ? correct / items.length : 0, correct, total: items.length, results };
}
