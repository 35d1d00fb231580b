#!/usr/bin/env python3
"""Interop checks between kvant and the reference Python `safetensors` library (with torch).

Commands (each prints one JSON document on stdout):
  check                      versions of safetensors and torch (fails if either is missing)
  read PATH...               read files (or *.index.json) with safetensors.safe_open; per tensor:
                             dtype, shape, sha256 of the raw little-endian bytes, and values
  write DIR                  write test files with torch + safetensors.torch.save_file into DIR:
                             all_dtypes.safetensors (special values included) and a sharded model
                             (two shards + model.safetensors.index.json); prints what was written
  resave IN OUT              load IN with safetensors and save it again to OUT with the same
                             metadata (to compare bytes with a file kvant wrote)
  chat-template TOKENIZER_CONFIG
                             render the chat template with jinja2 for a fixed conversation

Values are encoded for JSON: floats as numbers, except non-finite ones as "nan", "inf", "-inf";
64-bit integers as decimal strings (JSON numbers lose precision past 2^53).
"""
import hashlib
import json
import math
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

TORCH_TO_ST = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.uint64: "U64",
    torch.int32: "I32",
    torch.uint32: "U32",
    torch.int16: "I16",
    torch.uint16: "U16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


def raw_bytes(t):
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def encode_float(x):
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def values_of(t):
    flat = t.reshape(-1)
    if t.dtype in (torch.float64, torch.float32, torch.float16, torch.bfloat16):
        return [encode_float(v) for v in flat.double().tolist()]
    if t.dtype in (torch.int64, torch.uint64):
        return [str(v) for v in flat.tolist()]
    if t.dtype == torch.bool:
        return [1 if v else 0 for v in flat.tolist()]
    return flat.tolist()


def describe(t, with_values=True):
    d = {"dtype": TORCH_TO_ST[t.dtype], "shape": list(t.shape), "sha256": hashlib.sha256(raw_bytes(t)).hexdigest()}
    if with_values and t.numel() <= 4096:
        d["values"] = values_of(t)
    return d


def read_file(path):
    out = {"metadata": None, "tensors": {}}
    with safe_open(path, framework="pt") as f:
        out["metadata"] = f.metadata()
        for name in f.keys():
            out["tensors"][name] = describe(f.get_tensor(name))
    # load_file goes through the strict Rust deserializer again, on the whole file
    loaded = load_file(path)
    assert sorted(loaded) == sorted(out["tensors"]), "load_file and safe_open disagree"
    return out


def read(paths):
    result = {}
    for path in paths:
        if path.endswith(".index.json"):
            with open(path) as fh:
                index = json.load(fh)
            folder = os.path.dirname(path)
            tensors = {}
            for shard in sorted(set(index["weight_map"].values())):
                for name, d in read_file(os.path.join(folder, shard))["tensors"].items():
                    assert index["weight_map"].get(name) == shard, f"{name} is in {shard} but weight_map says {index['weight_map'].get(name)}"
                    tensors[name] = d
            assert sorted(tensors) == sorted(index["weight_map"]), "weight_map lists tensors missing from the shards"
            result[path] = {"metadata": index.get("metadata"), "tensors": tensors}
        else:
            result[path] = read_file(path)
    return result


def test_tensors():
    g = torch.Generator().manual_seed(1234)
    f32 = torch.randn(3, 5, generator=g)
    specials = torch.tensor([0.0, -0.0, 1.0, -2.5, float("inf"), float("-inf"), float("nan"), 1e-40, 3.4e38, 65504.0, 6e-8, 1e-5])
    return {
        "f32": f32,
        "f32_special": specials,
        "f16": (torch.randn(4, 7, generator=g) * 3).half(),
        "f16_special": specials.half(),
        "bf16": torch.randn(2, 3, 4, generator=g).bfloat16(),
        "bf16_special": specials.bfloat16(),
        "f64": torch.randn(5, generator=g, dtype=torch.float64),
        "u8": torch.arange(0, 256, dtype=torch.uint8),
        "i8": torch.arange(-128, 128, dtype=torch.int8).reshape(16, 16),
        "i16": torch.tensor([-32768, -1, 0, 32767], dtype=torch.int16),
        "i32": torch.tensor([-(2**31), -1, 0, 1, 2**31 - 1], dtype=torch.int32),
        "i64": torch.tensor([-(2**63), -(2**53) - 1, -1, 0, 2**53 + 1, 2**63 - 1], dtype=torch.int64),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(3.25),
        "empty": torch.zeros(0, 3),
        "model.layers.0.self_attn.q_proj.weight": torch.randn(8, 16, generator=g).bfloat16(),
    }


def write(folder):
    os.makedirs(folder, exist_ok=True)
    tensors = test_tensors()
    all_path = os.path.join(folder, "all_dtypes.safetensors")
    save_file(tensors, all_path, metadata={"format": "pt"})
    # a sharded model as transformers writes it: shards with {"format": "pt"} and an index
    shards = {
        "model-00001-of-00002.safetensors": {k: tensors[k] for k in ["f32", "bf16", "i64"]},
        "model-00002-of-00002.safetensors": {k: tensors[k] for k in ["f16", "u8", "model.layers.0.self_attn.q_proj.weight"]},
    }
    weight_map = {}
    total = 0
    for file, part in shards.items():
        save_file(part, os.path.join(folder, file), metadata={"format": "pt"})
        for name, t in part.items():
            weight_map[name] = file
            total += t.numel() * t.element_size()
    index_path = os.path.join(folder, "model.safetensors.index.json")
    with open(index_path, "w") as fh:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, fh, indent=2, sort_keys=True)
    return {"files": {all_path: {k: describe(v) for k, v in tensors.items()}}, "index": index_path, "weight_map": weight_map}


def resave(src, dst):
    with safe_open(src, framework="pt") as f:
        metadata = f.metadata()
    save_file(load_file(src), dst, metadata=metadata)
    return {"src": src, "dst": dst}


def chat_template(config_path):
    import jinja2

    with open(config_path) as fh:
        cfg = json.load(fh)
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(cfg["chat_template"])
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"}]
    return {"text": template.render(messages=messages, add_generation_prompt=True, bos_token=cfg["bos_token"], eos_token=cfg["eos_token"])}


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[0], argv[1:]
    if cmd == "check":
        import safetensors

        out = {"safetensors": safetensors.__version__, "torch": torch.__version__}
    elif cmd == "read":
        out = read(args)
    elif cmd == "write":
        out = write(args[0])
    elif cmd == "resave":
        out = resave(args[0], args[1])
    elif cmd == "chat-template":
        out = chat_template(args[0])
    else:
        print(f"unknown command {cmd!r}", file=sys.stderr)
        return 2
    json.dump(out, sys.stdout, allow_nan=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
