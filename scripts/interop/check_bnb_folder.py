"""
Independent check of a folder written by `kvant quantize`, in Python with torch and safetensors:
re-derives bitsandbytes' 4-bit quantization of every quantized weight from the source model with
torch operations (absmax per block, x * (1/absmax) in float32, nearest code with ties to the
lower code through torch.bucketize on the midpoints, even element in the high nibble, the
signed dynamic map for double quantization) and compares the bytes kvant wrote. The 4-bit
decisions use the thresholds of bitsandbytes' CUDA kernels (strict `>`), through bucketize.

usage: python3 check_bnb_folder.py <source-model-dir> <quantized-dir>
prints one JSON object: {"tensors": N, "mismatches": [...], "checked": {...}}
"""
import json
import os
import sys

import torch
from safetensors import safe_open

NF4 = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
       -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
       0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
       0.7229568362236023, 1.0]
NF4_THRESHOLDS = [-0.8480964004993439, -0.6106329262256622, -0.4599952697753906, -0.33967943489551544,
                  -0.23460740596055984, -0.13791173323988914, -0.045525018125772476, 0.03979014977812767,
                  0.1202552504837513, 0.2035212516784668, 0.2920137718319893, 0.3893125355243683,
                  0.5016634166240692, 0.6427869200706482, 0.8614784181118011]
FP4_MAGNITUDES = [0.0, 0.0625 / 12, 8 / 12, 12 / 12, 4 / 12, 6 / 12, 2 / 12, 3 / 12]
# The float32 constants of bitsandbytes' CUDA FP4 tree (sorted), and the 3-bit code above each.
FP4_THRESHOLDS = [0.00260417, 0.0859375, 0.20833333, 0.29166667, 0.4166667, 0.583333, 0.8333333]
FP4_CODES_BY_RANK = [0b000, 0b001, 0b110, 0b111, 0b100, 0b101, 0b010, 0b011]


def dynamic_map(signed=True):
    """The 8-bit dynamic map as the reference note §2.2 describes it, built with torch float32."""
    data = []
    max_exponent_bits = 7
    non_sign_bits = 7
    for i in range(max_exponent_bits):
        items = 2 ** (i + non_sign_bits - max_exponent_bits) + 1 if signed else 2 ** (i + non_sign_bits - max_exponent_bits + 1) + 1
        boundaries = torch.linspace(0.1, 1, items, dtype=torch.float32)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += ((10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
        if signed:
            data += (-(10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
    data.append(0)
    data.append(1.0)
    return torch.tensor(data, dtype=torch.float32).sort().values


def load_all(folder):
    tensors = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".safetensors"):
            with safe_open(os.path.join(folder, name), framework="pt") as f:
                for k in f.keys():
                    tensors[k] = f.get_tensor(k)
    return tensors


def nearest_sorted(values, table):
    """Index of the nearest table value (table sorted ascending), ties to the lower index."""
    mids = (table[:-1] + table[1:]) * 0.5
    return torch.bucketize(values, mids, right=False)


def quantize_4bit(x, blocksize, quant_type):
    n = x.numel()
    flat = x.reshape(-1).float()
    blocks = (n + blocksize - 1) // blocksize
    padded = torch.zeros(blocks * blocksize, dtype=torch.float32)
    padded[:n] = flat
    absmax = padded.reshape(blocks, blocksize).abs().max(dim=1).values
    inv = 1.0 / absmax  # float32 reciprocal, as the CUDA kernel
    scaled = (padded.reshape(blocks, blocksize) * inv[:, None]).reshape(-1)[:n]
    if quant_type == "nf4":
        codes = torch.bucketize(scaled, torch.tensor(NF4_THRESHOLDS, dtype=torch.float32), right=False)
        codes[torch.isnan(scaled)] = 0
        pad_code = 7
    else:
        rank = torch.bucketize(scaled.abs(), torch.tensor(FP4_THRESHOLDS, dtype=torch.float32), right=False)
        codes = torch.tensor(FP4_CODES_BY_RANK)[rank] | torch.where(scaled < 0, 8, 0)
        codes[torch.isnan(scaled)] = 0
        pad_code = 0
    if n % 2:
        codes = torch.cat([codes, torch.tensor([pad_code])])
    packed = (codes[0::2] << 4 | codes[1::2]).to(torch.uint8)
    return packed, absmax


def main():
    src, out = sys.argv[1], sys.argv[2]
    source = load_all(src)
    quant = load_all(out)
    signed_map = dynamic_map(True)
    mismatches = []
    checked = 0
    for key in quant:
        if not key.endswith(".quant_state.bitsandbytes__nf4") and not key.endswith(".quant_state.bitsandbytes__fp4"):
            continue
        weight = key.split(".quant_state.")[0]
        state = json.loads(bytes(quant[key].tolist()).decode("utf-8"))
        original = source[weight]
        if list(original.shape) != state["shape"]:
            mismatches.append(f"{weight}: shape {state['shape']} vs source {list(original.shape)}")
            continue
        if str(original.dtype).replace("torch.", "") != state["dtype"]:
            mismatches.append(f"{weight}: dtype {state['dtype']} vs source {original.dtype}")
        packed, absmax = quantize_4bit(original, state["blocksize"], state["quant_type"])
        got_packed = quant[weight].reshape(-1)
        if quant[weight].shape != (packed.numel(), 1) or quant[weight].dtype != torch.uint8:
            mismatches.append(f"{weight}: stored as {quant[weight].dtype} {tuple(quant[weight].shape)}")
        elif not torch.equal(got_packed, packed):
            diff = (got_packed != packed).nonzero().reshape(-1)
            mismatches.append(f"{weight}: {diff.numel()} packed bytes differ, first at {int(diff[0])}")
        qm = quant[weight + ".quant_map"]
        want_map = torch.tensor(NF4 if state["quant_type"] == "nf4" else [m for m in FP4_MAGNITUDES] + [-m for m in FP4_MAGNITUDES], dtype=torch.float32)
        if not torch.equal(qm, want_map):
            mismatches.append(f"{weight}: quant_map differs")
        if "nested_offset" in state:
            offset = torch.tensor(state["nested_offset"], dtype=torch.float32)
            torch_mean = absmax.mean()
            if abs(float(offset) - float(torch_mean)) > 2e-7 * abs(float(torch_mean)) + 1e-12:
                mismatches.append(f"{weight}: nested_offset {float(offset)} vs torch mean {float(torch_mean)}")
            if not torch.equal(quant[weight + ".nested_quant_map"], signed_map):
                mismatches.append(f"{weight}: nested_quant_map differs from the signed dynamic map")
            centred = absmax - offset
            m = centred.numel()
            nb = (m + 255) // 256
            pad = torch.zeros(nb * 256)
            pad[:m] = centred
            nested_absmax = pad.reshape(nb, 256).abs().max(dim=1).values
            scaled = (pad.reshape(nb, 256) * (1.0 / nested_absmax)[:, None]).reshape(-1)[:m]
            q = nearest_sorted(scaled, signed_map).to(torch.uint8)
            if not torch.equal(quant[weight + ".nested_absmax"], nested_absmax):
                mismatches.append(f"{weight}: nested_absmax differs")
            if not torch.equal(quant[weight + ".absmax"], q):
                d = (quant[weight + ".absmax"] != q).nonzero().reshape(-1)
                mismatches.append(f"{weight}: {d.numel()} absmax codes differ, first at {int(d[0])}")
        elif not torch.equal(quant[weight + ".absmax"], absmax):
            mismatches.append(f"{weight}: absmax differs")
        checked += 1
    print(json.dumps({"tensors": checked, "mismatches": mismatches, "transformers": check_transformers(out)}))


def check_transformers(out):
    """What transformers makes of the folder without bitsandbytes: its config, the 4-bit
    quantization config (parsed by BitsAndBytesConfig) and the tokenizer with its chat template."""
    from transformers import AutoConfig, AutoTokenizer, BitsAndBytesConfig

    config = AutoConfig.from_pretrained(out)
    q = BitsAndBytesConfig.from_dict(config.quantization_config)
    tok = AutoTokenizer.from_pretrained(out)
    chat = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    return {
        "config": type(config).__name__,
        "load_in_4bit": q.load_in_4bit,
        "quant_type": q.bnb_4bit_quant_type,
        "double_quant": q.bnb_4bit_use_double_quant,
        "tokens": len(tok("hello world")["input_ids"]),
        "chat_template": "hi" in chat,
    }


if __name__ == "__main__":
    main()
