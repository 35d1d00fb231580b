/**
 * An Ollama Modelfile for an exported GGUF: FROM (the model file, or for an adapter-only export the
 * base it applies to), ADAPTER, the chat template in Ollama's Go-template syntax where kvant can
 * express it, and PARAMETER stop for the stop tokens.
 *
 * The template is written only when it is ChatML: the folder's Jinja template is rendered for probe
 * conversations (with and without a system message, with an assistant turn in the history) and must
 * give exactly what the Go template below gives (a leading BOS that the tokenizer adds itself aside).
 * Any other template is omitted, with a note: Ollama then uses what the GGUF's tokenizer.chat_template
 * maps to, or a raw prompt.
 */
import type { ChatMessage, ChatTemplate } from './chat-template';
import type { Tokenizer } from './tokenizer';

/** Ollama's ChatML template: every message as <|im_start|>role\ncontent<|im_end|>\n, then the assistant prompt. */
export const OLLAMA_CHATML_TEMPLATE = '{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n';

const PROBES: readonly (readonly ChatMessage[])[] = [
  [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Hi there' },
  ],
  [
    { role: 'user', content: 'One?' },
    { role: 'assistant', content: 'Two.' },
    { role: 'user', content: 'Three?' },
  ],
];

/** What OLLAMA_CHATML_TEMPLATE renders for `messages` (Ollama always asks for the assistant's turn). */
function chatml(messages: readonly ChatMessage[]): string {
  return `${messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('')}<|im_start|>assistant\n`;
}

/** The Ollama template equivalent to `template`, or why there is none. */
export function ollamaTemplate(template: ChatTemplate | undefined, tokenizer: Tokenizer): { template?: string; note?: string } {
  if (!template) return { note: 'the model has no chat template: the Modelfile has no TEMPLATE' };
  const bos = tokenizer.config.add_bos_token === true ? tokenizer.bosToken : undefined;
  for (const messages of PROBES) {
    let text: string;
    try {
      text = template.render(messages, tokenizer.specialTokens, { addGenerationPrompt: true }).text;
    } catch {
      return { note: 'the chat template did not render the probe conversations: the Modelfile has no TEMPLATE' };
    }
    if (bos && text.startsWith(bos)) text = text.slice(bos.length);
    if (text !== chatml(messages)) {
      return { note: "the chat template is not plain ChatML, which is all kvant translates to Ollama's Go templates: the Modelfile has no TEMPLATE (the GGUF keeps tokenizer.chat_template)" };
    }
  }
  return { template: OLLAMA_CHATML_TEMPLATE };
}

export interface ModelfileOptions {
  /** FROM: the model GGUF (or the base model for an adapter). */
  readonly from: string;
  /** ADAPTER: an adapter GGUF. */
  readonly adapter?: string;
  readonly template?: ChatTemplate;
  /** The tokenizer (for the template check and the stop tokens); omitted for an adapter-only Modelfile, which inherits both from FROM. */
  readonly tokenizer?: Tokenizer;
  /** EOS token contents. */
  readonly stop?: readonly string[];
  /** A first comment line. */
  readonly comment?: string;
}

const quote = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** The Modelfile text and what was left out, with why. */
export function ollamaModelfile(o: ModelfileOptions): { text: string; notes: string[] } {
  const lines: string[] = [];
  const notes: string[] = [];
  if (o.comment) lines.push(`# ${o.comment}`);
  lines.push(`FROM ${o.from}`);
  if (o.adapter) lines.push(`ADAPTER ${o.adapter}`);
  const stops = new Set(o.stop ?? []);
  if (o.tokenizer) {
    const t = ollamaTemplate(o.template, o.tokenizer);
    if (t.template) {
      if (t.template.includes('"""')) throw new Error('internal: a template with """');
      lines.push(`TEMPLATE """${t.template}"""`);
      stops.add('<|im_start|>');
      stops.add('<|im_end|>');
    } else if (t.note) notes.push(t.note);
  }
  for (const s of stops) lines.push(`PARAMETER stop ${quote(s)}`);
  return { text: `${lines.join('\n')}\n`, notes };
}
