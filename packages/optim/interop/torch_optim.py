"""PyTorch's optimizers, clipping and transformers' schedules, for @kvant/optim's interop tests.

Reads one JSON request on stdin and writes one JSON answer on stdout. f32 values travel as JSON
numbers (an f32 printed by JavaScript parses back to the same f32). Requests:

  {"op": "check"}
  {"op": "adamw", "params": {name: {"shape", "data"}}, "grads": [{name: data}, ...one per step],
   "lr", "betas", "eps", "weight_decay"}                                -> params, exp_avg, exp_avg_sq
  {"op": "sgd", ... same params/grads ..., "lr", "momentum", "dampening", "weight_decay", "nesterov"}
                                                                       -> params, momentum_buffer
  {"op": "clip", "grads": {name: {"shape", "data"}}, "max_norm"}       -> total_norm, grads
  {"op": "schedules", "cases": [{"name", "num_warmup_steps", "num_training_steps", "steps"}]}
                                                                       -> one list of lr factors per case
  {"op": "batch", "requests": [request, ...]}                          -> {"answers": [answer, ...]}
  (one process for many requests: importing torch is most of the time)
"""

import json
import sys

import torch


def tensors(spec):
    return {k: torch.tensor(v["data"], dtype=torch.float32).reshape(v["shape"]) for k, v in spec.items()}


def flat(t):
    return t.detach().reshape(-1).tolist()


def run_optimizer(req, make):
    params = {k: p.clone().requires_grad_(True) for k, p in tensors(req["params"]).items()}
    opt = make(list(params.values()))
    for step in req["grads"]:
        for k, p in params.items():
            p.grad = torch.tensor(step[k], dtype=torch.float32).reshape(p.shape)
        opt.step()
    return params, opt


def adamw(req):
    params, opt = run_optimizer(
        req,
        lambda ps: torch.optim.AdamW(
            ps, lr=req["lr"], betas=tuple(req["betas"]), eps=req["eps"], weight_decay=req["weight_decay"], foreach=False
        ),
    )
    return {
        "params": {k: flat(p) for k, p in params.items()},
        "exp_avg": {k: flat(opt.state[p]["exp_avg"]) for k, p in params.items()},
        "exp_avg_sq": {k: flat(opt.state[p]["exp_avg_sq"]) for k, p in params.items()},
    }


def sgd(req):
    params, opt = run_optimizer(
        req,
        lambda ps: torch.optim.SGD(
            ps,
            lr=req["lr"],
            momentum=req["momentum"],
            dampening=req["dampening"],
            weight_decay=req["weight_decay"],
            nesterov=req["nesterov"],
            foreach=False,
        ),
    )
    out = {"params": {k: flat(p) for k, p in params.items()}}
    if req["momentum"] != 0:
        out["momentum_buffer"] = {k: flat(opt.state[p]["momentum_buffer"]) for k, p in params.items()}
    return out


def clip(req):
    grads = tensors(req["grads"])
    params = []
    for g in grads.values():
        p = torch.zeros_like(g, requires_grad=True)
        p.grad = g.clone()
        params.append(p)
    total = torch.nn.utils.clip_grad_norm_(params, req["max_norm"], foreach=False)
    return {"total_norm": total.item(), "grads": {k: flat(p.grad) for k, p in zip(grads, params)}}


def schedules(req):
    try:
        from transformers import get_scheduler
    except ImportError as e:  # the test decides whether that is allowed
        return {"error": f"transformers is not importable: {e}"}
    out = []
    for case in req["cases"]:
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        sched = get_scheduler(
            case["name"], opt, num_warmup_steps=case["num_warmup_steps"], num_training_steps=case["num_training_steps"]
        )
        factors = []
        for _ in range(case["steps"]):
            factors.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        out.append(factors)
    return {"factors": out}


def check(_req):
    import importlib.util

    return {"torch": torch.__version__, "transformers": importlib.util.find_spec("transformers") is not None}


def answer(req):
    if req["op"] == "batch":
        return {"answers": [answer(r) for r in req["requests"]]}
    return {"check": check, "adamw": adamw, "sgd": sgd, "clip": clip, "schedules": schedules}[req["op"]](req)


def main():
    json.dump(answer(json.load(sys.stdin)), sys.stdout)


if __name__ == "__main__":
    main()
