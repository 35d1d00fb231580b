"""Interop oracle for kvant's tokenizer and chat templates (packages/model/src/*interop.test.ts).

Usage: python3 tokenizer_interop.py COMMAND [DIR] < request.json; prints JSON.
  check                   versions of tokenizers and transformers
  build-bpe DIR           train a small byte-level BPE with `tokenizers` on a mixed-script text, save DIR/tokenizer.json
  encode                  {"dirs": [...], "texts": [...]} -> per folder, per text: `tokenizers` ids (with and
                          without special tokens), transformers' tokenizer(text) ids, decode with/without skip_special_tokens
  template -              {"dirs": {DIR: [{"messages", "add_generation_prompt", "assistant_mask"?}]}} -> apply_chat_template
                          text, or the error raise_exception raised (and ids and assistant_masks with tokenize=True
                          when "assistant_mask" is set)
"""
import json
import sys


def main() -> None:
    cmd = sys.argv[1]
    if cmd == "check":
        import tokenizers
        import transformers

        print(json.dumps({"tokenizers": tokenizers.__version__, "transformers": transformers.__version__}))
        return
    if cmd == "encode":
        from tokenizers import Tokenizer
        from transformers import AutoTokenizer

        req = json.load(sys.stdin)
        result = {}
        for d in req["dirs"]:
            hf = AutoTokenizer.from_pretrained(d)
            raw = Tokenizer.from_file(f"{d}/tokenizer.json")
            out = []
            for text in req["texts"]:
                ids = hf(text)["input_ids"]
                out.append(
                    {
                        "tokenizers": raw.encode(text, add_special_tokens=False).ids,
                        "tokenizers_special": raw.encode(text).ids,
                        "transformers": ids,
                        "transformers_plain": hf(text, add_special_tokens=False)["input_ids"],
                        "decode": hf.decode(ids),
                        "decode_skip": hf.decode(ids, skip_special_tokens=True),
                    }
                )
            result[d] = out
        print(json.dumps(result))
        return
    d = sys.argv[2]
    if cmd == "build-bpe":
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

        corpus = json.load(sys.stdin)["corpus"]
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.decoder = decoders.ByteLevel()
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
        trainer = trainers.BpeTrainer(
            vocab_size=600,
            special_tokens=["<s>", "</s>", "<pad>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train_from_iterator(corpus, trainer=trainer)
        tok.save(f"{d}/tokenizer.json")
        print(json.dumps({"vocab_size": tok.get_vocab_size()}))
        return
    req = json.load(sys.stdin)
    from transformers import AutoTokenizer

    if cmd == "template":
        result = {}
        for d, cases in req["dirs"].items():
            hf = AutoTokenizer.from_pretrained(d)
            out = []
            for case in cases:
                kw = {"add_generation_prompt": case.get("add_generation_prompt", False)}
                try:
                    text = hf.apply_chat_template(case["messages"], tokenize=False, **kw)
                except Exception as e:  # raise_exception in the template
                    out.append({"error": str(e)})
                    continue
                row = {"text": text}
                if case.get("assistant_mask"):
                    enc = hf.apply_chat_template(
                        case["messages"], tokenize=True, return_dict=True, return_assistant_tokens_mask=True, **kw
                    )
                    row["ids"] = enc["input_ids"]
                    row["assistant_masks"] = enc["assistant_masks"]
                out.append(row)
            result[d] = out
        print(json.dumps(result))
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
