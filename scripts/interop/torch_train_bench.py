#!/usr/bin/env python3
"""The PyTorch + PEFT baseline of kvant's `model` and `train` bench suites (bench/src/torch.ts).

Reads one JSON request on stdin, prints one JSON object on stdout:
  {"model": DIR, "threads": N, "b": B, "t": T, "input_ids": [B*T ints], "r": 16, "alpha": 32,
   "lr": 1e-3, "modes": ["forward", "fwdbwd", "train"], "min_time_s": 1.0, "min_iters": 3,
   "validate_steps": 4}
The model folder is read by transformers (AutoModelForCausalLM, f32 on the CPU: bitsandbytes has no
CPU build here, so the base is always dense f32), wrapped by get_peft_model with LoraConfig(r, alpha,
target_modules="all-linear", dropout 0), and timed with torch.set_num_threads(N):
  forward  eval mode under no_grad, loss against labels = input_ids (transformers shifts them)
  fwdbwd   train mode, loss.backward(), gradients set to None after each
  train    what kvant's trainer does per micro-batch: forward, backward, clip_grad_norm_(1.0),
           AdamW step, zero_grad; first `validate_steps` steps on the batch must lower the loss
Each mode reports the median seconds of its timed iterations and tokens/s (B*T / median). The
process's peak RSS (getrusage) covers every mode of the request.
"""
import json
import resource
import statistics
import sys
import time


def timed(fn, min_time_s, min_iters, warm_up=True):
    if warm_up:
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_iters or (time.perf_counter() - start < min_time_s and len(times) < 50):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(times)


def main():
    req = json.loads(sys.stdin.read())
    import torch
    torch.set_num_threads(int(req["threads"]))
    import peft
    import transformers
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    transformers.logging.set_verbosity_error()

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(req["model"], dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=req["r"], lora_alpha=req["alpha"], target_modules="all-linear", lora_dropout=0.0))
    b, t = req["b"], req["t"]
    ids = torch.tensor(req["input_ids"], dtype=torch.long).view(b, t)
    params = [p for p in model.parameters() if p.requires_grad]
    out = {
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
        "threads": torch.get_num_threads(),
        "trainable_params": sum(p.numel() for p in params),
        "results": {},
    }
    model.eval()
    with torch.no_grad():
        out["initial_loss"] = float(model(input_ids=ids, labels=ids).loss)
    if not (out["initial_loss"] == out["initial_loss"] and abs(out["initial_loss"]) < float("inf")):
        raise SystemExit(f"torch: the initial loss is not finite ({out['initial_loss']})")
    tokens = b * t
    min_time_s, min_iters = req.get("min_time_s", 1.0), req.get("min_iters", 3)

    def forward():
        with torch.no_grad():
            model(input_ids=ids, labels=ids)

    def fwdbwd():
        model(input_ids=ids, labels=ids).loss.backward()
        for p in params:
            p.grad = None

    opt = torch.optim.AdamW(params, lr=req.get("lr", 1e-3))
    losses = []

    def train_step():
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad()
        losses.append(float(loss))

    for mode in req["modes"]:
        if mode == "forward":
            model.eval()
            median, n = timed(forward, min_time_s, min_iters)
        elif mode == "fwdbwd":
            model.train()
            median, n = timed(fwdbwd, min_time_s, min_iters)
        elif mode == "train":
            model.train()
            for _ in range(req.get("validate_steps", 4)):
                train_step()
            if not losses[-1] < losses[0]:
                raise SystemExit(f"torch: the training loss did not fall ({losses})")
            median, n = timed(train_step, min_time_s, min_iters, warm_up=False)  # the validation steps warmed it up
            out["train_losses"] = losses[: req.get("validate_steps", 4)]
        else:
            raise SystemExit(f"torch: unknown mode {mode!r}")
        out["results"][mode] = {"median_s": median, "samples": n, "tokens_per_s": tokens / median}
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(out))


if __name__ == "__main__":
    main()
