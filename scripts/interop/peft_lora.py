#!/usr/bin/env python3
"""PEFT interop for @kvant/lora's tests (packages/lora/src/interop.test.ts).

Reads one JSON request on stdin, prints one JSON line on stdout:
  {"op": "check"}                       -> versions of torch, transformers, peft
  {"op": "make", "dir", "use_dora", "seed"}
      builds a tiny LlamaForCausalLM (hidden 64, 2 layers, intermediate 128, vocab 128), writes
      dir/config.json and dir/base.safetensors (every base tensor, f32), wraps it with get_peft_model
      (r=4, lora_alpha=8, all-linear, DoRA if asked), randomizes lora_B (and DoRA magnitudes) so the
      adapter is not a no-op, saves it with save_pretrained to dir/peft_adapter, and writes
      dir/peft_io.safetensors with "<module>.x" [6, K] and "<module>.y" = lora.Linear(x) (eval mode).
  {"op": "check_kvant", "dir", "adapter", "io", "out"}
      loads `adapter` (written by kvant) with PeftModel.from_pretrained onto the same base, reports
      missing/unexpected keys and warnings, and writes "<module>.y" for each "<module>.x" of `io`.
"""
import contextlib
import io
import json
import os
import sys
import warnings


def build_base(seed):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(hidden_size=64, num_hidden_layers=2, intermediate_size=128, vocab_size=128,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return LlamaForCausalLM(cfg).float().eval()


def lora_modules(model):
    from peft.tuners.lora import LoraLayer
    return [(name[len("base_model.model."):], m) for name, m in model.named_modules() if isinstance(m, LoraLayer)]


def make(req):
    import torch
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import save_file

    d = req["dir"]
    os.makedirs(d, exist_ok=True)
    base = build_base(req["seed"])
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write(base.config.to_json_string())
    save_file({k: v.detach().clone().contiguous().float() for k, v in base.state_dict().items()}, os.path.join(d, "base.safetensors"))
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", use_dora=bool(req["use_dora"])))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        model.print_trainable_parameters()
    g = torch.Generator().manual_seed(req["seed"] + 1)
    tensors = {}
    with torch.no_grad():
        for name, m in lora_modules(model):
            b = m.lora_B["default"].weight
            b.copy_(torch.randn(b.shape, generator=g) * 0.05)
            if req["use_dora"]:
                mag = m.lora_magnitude_vector["default"].weight
                mag.mul_(1 + 0.1 * torch.rand(mag.shape, generator=g))
    model.eval()
    model.save_pretrained(os.path.join(d, "peft_adapter"))
    with torch.no_grad():
        for name, m in lora_modules(model):
            x = torch.randn(6, m.in_features, generator=g)
            tensors[f"{name}.x"] = x.contiguous()
            tensors[f"{name}.y"] = m(x).contiguous()
    save_file(tensors, os.path.join(d, "peft_io.safetensors"))
    return {"modules": [n for n, _ in lora_modules(model)], "trainable_line": out.getvalue().strip()}


def check_kvant(req):
    import torch
    from peft import PeftModel, get_peft_model_state_dict
    from safetensors.torch import load_file, save_file
    from transformers import LlamaConfig, LlamaForCausalLM

    d = req["dir"]
    cfg = LlamaConfig.from_json_file(os.path.join(d, "config.json"))
    base = LlamaForCausalLM(cfg).float()
    base.load_state_dict(load_file(os.path.join(d, "base.safetensors")), strict=False)
    base.eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = PeftModel.from_pretrained(base, req["adapter"])
    model.eval()
    expected = set(get_peft_model_state_dict(model).keys())
    in_file = set(load_file(os.path.join(req["adapter"], "adapter_model.safetensors")).keys())
    xs = load_file(req["io"])
    ys = {}
    modules = dict(lora_modules(model))
    with torch.no_grad():
        for key, x in xs.items():
            if key.endswith(".x"):
                ys[key[:-2] + ".y"] = modules[key[:-2]](x).contiguous()
    save_file(ys, req["out"])
    return {
        "missing": sorted(expected - in_file),
        "unexpected": sorted(in_file - expected),
        "warnings": [str(w.message) for w in caught if "missing" in str(w.message).lower() or "unexpected" in str(w.message).lower()],
        "use_dora": bool(model.peft_config["default"].use_dora),
    }


def main():
    req = json.loads(sys.stdin.read())
    if req["op"] == "check":
        import peft
        import torch
        import transformers
        result = {"peft": peft.__version__, "torch": torch.__version__, "transformers": transformers.__version__}
    elif req["op"] == "make":
        result = make(req)
    elif req["op"] == "check_kvant":
        result = check_kvant(req)
    else:
        raise SystemExit(f"unknown op {req['op']!r}")
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
