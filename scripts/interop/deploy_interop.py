"""Oracle for kvant's deployment outputs (merged folders, GGUF files), driven by JSON on stdin.

Requests (one JSON object; each key optional):
  {"logits": {"dir": DIR, "input_ids": [[...], ...]}}
      load DIR with transformers (float32, eager attention) and return its logits, flattened,
      plus the dtype of the loaded parameters and the safetensors dtypes of the folder.
  {"gguf": {"path": FILE, "values": [NAME, ...]}}
      read FILE with the `gguf` package's GGUFReader and return every metadata field (decoded),
      every tensor's name, ne-order shape, type name and element count, and for each tensor in
      `values` its values dequantized by the package (gguf.quants.dequantize), flattened.
  {"permute": {"file": SAFETENSORS, "tensors": {NAME: N_HEAD, ...}}}
      the rows of each tensor reordered as llama.cpp's convert_hf_to_gguf.py does for llama's q_proj
      and k_proj (reshape to (heads, 2, D/2, ...), swap axes 1 and 2, reshape back), flattened.
Prints one JSON object.
"""
import json
import sys


def logits(req):
    import torch
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(req["dir"], dtype=torch.float32, attn_implementation="eager")
    model.eval()
    with torch.no_grad():
        out = model(input_ids=torch.tensor(req["input_ids"], dtype=torch.long))
    return {"logits": out.logits.float().reshape(-1).tolist(), "tied": bool(model.config.tie_word_embeddings)}


def field_value(field):
    import gguf

    types = field.types
    if not types:
        return None
    if types[0] == gguf.GGUFValueType.ARRAY:
        item = types[1] if len(types) > 1 else None
        if item == gguf.GGUFValueType.STRING:
            return [bytes(field.parts[i]).decode("utf-8") for i in field.data]
        return [field.parts[i].tolist()[0] for i in field.data]
    if types[0] == gguf.GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]).decode("utf-8")
    v = field.parts[field.data[0]].tolist()[0]
    if types[0] == gguf.GGUFValueType.BOOL:
        return bool(v)
    return v


def read_gguf(req):
    import gguf
    import numpy as np

    reader = gguf.GGUFReader(req["path"])
    fields = {}
    field_types = {}
    for name, field in reader.fields.items():
        if name.startswith("GGUF."):
            continue
        fields[name] = field_value(field)
        field_types[name] = [t.name for t in field.types]
    tensors = []
    values = {}
    wanted = set(req.get("values", []))
    for t in reader.tensors:
        tensors.append({"name": t.name, "shape": [int(x) for x in t.shape], "type": t.tensor_type.name, "n_elements": int(t.n_elements), "offset": int(t.data_offset)})
        if t.name in wanted:
            deq = gguf.quants.dequantize(t.data, t.tensor_type)
            values[t.name] = np.asarray(deq, dtype=np.float32).reshape(-1).tolist()
    return {"version": int(reader.fields["GGUF.version"].parts[-1][0]), "alignment": int(reader.alignment), "fields": fields, "field_types": field_types, "tensors": tensors, "values": values}


def permute(req):
    import numpy as np
    from safetensors.numpy import load_file

    tensors = load_file(req["file"])
    out = {}
    for name, heads in req["tensors"].items():
        w = tensors[name].astype(np.float32)
        p = w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
        out[name] = p.reshape(-1).tolist()
    return {"permuted": out}


def main():
    req = json.load(sys.stdin)
    out = {}
    if "logits" in req:
        out.update(logits(req["logits"]))
    if "permute" in req:
        out.update(permute(req["permute"]))
    if "gguf" in req:
        out.update(read_gguf(req["gguf"]))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
