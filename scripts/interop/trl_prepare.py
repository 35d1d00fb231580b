"""TRL's own SFT data preparation, as the oracle for kvant's (packages/trainer/src/data/trl-interop.test.ts).

Usage: python3 trl_prepare.py check | python3 trl_prepare.py prepare < request.json
request: {"cases": [{"name", "tokenizer": DIR, "records": [...], "config": {SFTConfig data fields}}]}
prints:  [{"name", "rows": [{"input_ids", "labels", "position_ids"}]}]

Each case builds an SFTTrainer around a tiny random Llama (one layer; nothing is trained) and reads
trainer.train_dataset, which SFTTrainer._prepare_dataset produced (EOS, chat template, masks,
truncation, packing). Rows then go through the trainer's own data collator one at a time, so labels
and position ids are what the model would see (padding-free for packed rows: position ids restart
and each document's first label is -100).
"""
import json
import logging
import os
import sys
import tempfile
import warnings

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
warnings.filterwarnings("ignore")


def main() -> None:
    if sys.argv[1] == "check":
        import transformers
        import trl

        print(json.dumps({"trl": trl.__version__, "transformers": transformers.__version__}))
        return
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as hf_logging
    from trl import SFTConfig, SFTTrainer

    hf_logging.set_verbosity_error()
    logging.getLogger("trl").setLevel(logging.ERROR)
    torch.manual_seed(0)
    req = json.load(sys.stdin)
    loaded = {}

    def load(tok_dir):
        if tok_dir not in loaded:
            tokenizer = AutoTokenizer.from_pretrained(tok_dir)
            config = LlamaConfig(
                vocab_size=len(tokenizer),
                hidden_size=16,
                intermediate_size=32,
                num_hidden_layers=1,
                num_attention_heads=2,
                num_key_value_heads=1,
                max_position_embeddings=4096,
            )
            loaded[tok_dir] = (tokenizer, LlamaForCausalLM(config))
        return loaded[tok_dir]

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in req["cases"]:
            tokenizer, model = load(case["tokenizer"])
            args = SFTConfig(
                output_dir=tmp,
                report_to="none",
                bf16=False,
                use_cpu=True,
                gradient_checkpointing=False,
                dataset_num_proc=None,
                **case.get("config", {}),
            )
            dataset = Dataset.from_list(case["records"])
            trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
            rows = []
            for example in trainer.train_dataset:
                batch = trainer.data_collator([example])
                row = {
                    "input_ids": batch["input_ids"][0].tolist(),
                    "labels": batch["labels"][0].tolist(),
                }
                if "position_ids" in batch:
                    row["position_ids"] = batch["position_ids"][0].tolist()
                if "seq_lengths" in example:
                    row["seq_lengths"] = list(example["seq_lengths"])
                rows.append(row)
            out.append({"name": case["name"], "rows": rows})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
