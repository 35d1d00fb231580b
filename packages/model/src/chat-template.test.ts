import { exampleTokenizerFiles, ModelFileError } from '@kvant/formats';
import { describe, expect, it } from 'vitest';
import { applyChatTemplate, ChatTemplate, ChatTemplateError, chatTemplatesFromConfig, markGenerationBlocks, selectChatTemplate } from './chat-template';
import { Tokenizer } from './tokenizer';

const { files } = exampleTokenizerFiles(1024);
const tok = Tokenizer.fromObjects(files['tokenizer.json'] as never, files['tokenizer_config.json'] as never);

describe('ChatTemplate', () => {
  it('renders with bos_token and add_generation_prompt', () => {
    const t = selectChatTemplate(chatTemplatesFromConfig(tok.config.chat_template, 'cfg'), 'dir');
    const r = t.render([{ role: 'user', content: 'hi' }], tok.specialTokens, { addGenerationPrompt: true });
    expect(r.text).toBe('<|begin_of_text|><|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
  });

  it('tokenizes without a second BOS', () => {
    const t = new ChatTemplate(tok.config.chat_template as string);
    const { ids } = applyChatTemplate(tok, t, [{ role: 'user', content: 'hi' }]);
    expect(ids.filter((id) => id === tok.bosTokenId)).toHaveLength(1);
  });

  it('tracks generation blocks as spans, keeping block whitespace rules', () => {
    expect(markGenerationBlocks('a\n  {% generation %}\nb{%- endgeneration -%}')).toBe("a\n{{ '\uE000' }}b{{- '\uE001' -}}");
    const t = new ChatTemplate("{% for m in messages %}{{ m.role }}: {% generation %}{{ m.content }}{% endgeneration %}\n{% endfor %}");
    const r = t.render([
      { role: 'user', content: 'q' },
      { role: 'assistant', content: 'answer' },
    ]);
    // trim_blocks: the newline after {% endgeneration %} goes, as in jinja2
    expect(r.text).toBe('user: qassistant: answer');
    expect(r.generationSpans.map(([s, e]) => r.text.slice(s, e))).toEqual(['q', 'answer']);
  });

  it('turns raise_exception and syntax errors into ChatTemplateError', () => {
    expect(() => new ChatTemplate("{{ raise_exception('no system role') }}", 'x').render([])).toThrow(/no system role/);
    expect(() => new ChatTemplate('{% for %}', 'x')).toThrow(ChatTemplateError);
  });

  it('selects named templates as transformers does, and says when there is none', () => {
    const named = chatTemplatesFromConfig(
      [
        { name: 'default', template: 'd' },
        { name: 'tool_use', template: 't' },
      ],
      'cfg',
    );
    expect(selectChatTemplate(named, 'dir').source).toBe('d');
    expect(selectChatTemplate(named, 'dir', 'tool_use').source).toBe('t');
    expect(() => selectChatTemplate(new Map(), 'dir')).toThrow(ModelFileError);
    expect(() => selectChatTemplate(new Map(), 'dir')).toThrow(/chat template.*found none/);
    expect(() => chatTemplatesFromConfig(42, 'cfg')).toThrow(/string or a list/);
  });
});
