"""Interop oracle for @kvant/model's decoder tests: transformers (and peft) on the CPU in float32.

Reads one JSON request on stdin, writes one JSON answer on stdout. Steps, each optional:

  build:    {"arch": "llama"|"mistral"|"qwen2"|"phi3", "dir": ..., "config": {...}, "seed": 0,
             "dtype": "float32"|"bfloat16"|"float16", "max_shard_size": "200KB" | null}
            builds a small random model (norm weights and biases randomized too), save_pretrained.
  forward:  {"input_ids": [[...]], "position_ids": [[...]] | null, "labels": [[...]] | null}
            loads `dir` in float32 (eager attention) and returns logits (flat) and loss.
  lora:     {"r": 4, "alpha": 8, "targets": [...] | "all-linear", "adapter_dir": ..., "seed": 1}
            wraps the model with PEFT (B randomized so every gradient is non-zero), saves the adapter,
            runs forward + backward on the forward step's batch, returns the loss, the logits and the
            gradients of every lora_A / lora_B by PEFT's saved key.
  generate: {"input_ids": [...], "max_new_tokens": 8} greedy (do_sample=False), with the adapter if any.
  peft_load: {"adapter_dir": ...} PeftModel.from_pretrained on the loaded model (an adapter kvant
             wrote), then the forward step's batch: returns peft_logits (flat).

Used only by tests (packages/model/src/*.test.ts); prints nothing else on stdout.
"""

import json
import sys

import torch
import transformers


def build(req):
    arch = req["arch"]
    classes = {
        "llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM),
        "mistral": (transformers.MistralConfig, transformers.MistralForCausalLM),
        "qwen2": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM),
        "phi3": (transformers.Phi3Config, transformers.Phi3ForCausalLM),
    }
    config_cls, model_cls = classes[arch]
    config = config_cls(**req.get("config", {}))
    torch.manual_seed(req.get("seed", 0))
    model = model_cls(config).float()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(0.08 * torch.randn_like(p))
    dtype = getattr(torch, req.get("dtype", "float32"))
    model = model.to(dtype)
    kwargs = {}
    if req.get("max_shard_size"):
        kwargs["max_shard_size"] = req["max_shard_size"]
    model.save_pretrained(req["dir"], safe_serialization=True, **kwargs)


def load(req):
    model = transformers.AutoModelForCausalLM.from_pretrained(req["dir"], dtype=torch.float32, attn_implementation="eager")
    return model.eval()


def tensor(rows):
    return None if rows is None else torch.tensor(rows, dtype=torch.long)


def run_forward(model, step):
    out = model(input_ids=tensor(step["input_ids"]), position_ids=tensor(step.get("position_ids")), labels=tensor(step.get("labels")), use_cache=False)
    return out


def main():
    req = json.load(sys.stdin)
    answer = {}
    if "build" in req:
        build(req["build"])
    model = None
    if "forward" in req:
        model = load(req["load"])
        with torch.no_grad():
            out = run_forward(model, req["forward"])
        answer["logits"] = out.logits.reshape(-1).tolist()
        answer["loss"] = None if out.loss is None else out.loss.item()
    if "lora" in req:
        import peft

        lo = req["lora"]
        model = model or load(req["load"])
        config = peft.LoraConfig(r=lo["r"], lora_alpha=lo["alpha"], target_modules=lo["targets"], lora_dropout=0.0, task_type="CAUSAL_LM")
        pm = peft.get_peft_model(model, config)
        torch.manual_seed(lo.get("seed", 1))
        with torch.no_grad():
            for name, p in pm.named_parameters():
                if "lora_B" in name:
                    p.copy_(0.1 * torch.randn_like(p))
        pm.save_pretrained(lo["adapter_dir"], safe_serialization=True)
        pm.train()
        out = run_forward(pm, req["forward"])
        out.loss.backward()
        grads = {}
        for name, p in pm.named_parameters():
            if p.requires_grad:
                key = name.replace(".default", "")
                grads[key] = p.grad.reshape(-1).tolist()
        answer["lora_loss"] = out.loss.item()
        answer["lora_logits"] = out.logits.detach().reshape(-1).tolist()
        answer["lora_grads"] = grads
        model = pm
    if "peft_load" in req:
        import peft

        model = model or load(req["load"])
        pm = peft.PeftModel.from_pretrained(model, req["peft_load"]["adapter_dir"]).eval()
        with torch.no_grad():
            out = run_forward(pm, req["forward"])
        answer["peft_logits"] = out.logits.reshape(-1).tolist()
        model = pm
    if "generate" in req:
        g = req["generate"]
        model = model or load(req["load"])
        model.eval()
        ids = torch.tensor([g["input_ids"]], dtype=torch.long)
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=g["max_new_tokens"], do_sample=False, eos_token_id=g.get("eos_token_id"), pad_token_id=0)
        answer["generated"] = out[0, ids.shape[1]:].tolist()
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
