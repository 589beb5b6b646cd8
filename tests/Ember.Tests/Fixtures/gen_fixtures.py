#!/usr/bin/python3
"""Reference values from PyTorch for Ember's tests (losses, optimizers, schedulers).

Run with Debian's system python (apt-get install python3-torch):  /usr/bin/python3 gen_fixtures.py
Writes torch_reference.json next to this file; the tests read that file, so CI needs no PyTorch.
Inputs are written out explicitly (not re-generated in C#), so the two sides compute on identical numbers.
"""
import json, os
import torch
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
out = {"torch_version": torch.__version__}

def t(x): return x.detach().reshape(-1).tolist()

# ---------------------------------------------------------------- losses (value and input gradient)
losses = []
def add_loss(name, fn, x, target, **meta):
    x = x.clone().requires_grad_(True)
    y = fn(x)
    g = torch.randn_like(y) if y.dim() > 0 else torch.tensor(1.0)
    y.backward(g)
    losses.append(dict(name=name, input=t(x), input_shape=list(x.shape), target=t(target), target_shape=list(target.shape),
                       target_dtype="int64" if target.dtype == torch.int64 else "float64",
                       output=t(y), output_shape=list(y.shape), grad_output=t(g), grad=t(x.grad), **meta))

x = torch.randn(5, 4); yr = torch.randn(5, 4)
for red in ["mean", "sum", "none"]:
    add_loss(f"mse_{red}", lambda a: F.mse_loss(a, yr, reduction=red), x, yr, reduction=red)
    add_loss(f"l1_{red}", lambda a: F.l1_loss(a, yr, reduction=red), x, yr, reduction=red)
add_loss("smooth_l1_beta0.5", lambda a: F.smooth_l1_loss(a, yr, beta=0.5), x, yr, beta=0.5)
add_loss("huber_delta0.7", lambda a: F.huber_loss(a, yr, delta=0.7), x, yr, delta=0.7)

logits = torch.randn(6, 5) * 2
cls = torch.tensor([0, 4, 2, 2, 1, 3])
w = torch.rand(5) + 0.5
cls_ign = torch.tensor([0, 4, -100, 2, 1, 3])
for red in ["mean", "sum", "none"]:
    add_loss(f"ce_{red}", lambda a: F.cross_entropy(a, cls, reduction=red), logits, cls, reduction=red)
add_loss("ce_weight", lambda a: F.cross_entropy(a, cls, weight=w), logits, cls, weight=t(w))
add_loss("ce_ignore", lambda a: F.cross_entropy(a, cls_ign), logits, cls_ign, ignore_index=-100)
add_loss("ce_smooth", lambda a: F.cross_entropy(a, cls, label_smoothing=0.1), logits, cls, label_smoothing=0.1)
add_loss("ce_smooth_weight_ignore", lambda a: F.cross_entropy(a, cls_ign, weight=w, label_smoothing=0.2), logits, cls_ign, weight=t(w), label_smoothing=0.2, ignore_index=-100)
probs = torch.softmax(torch.randn(6, 5), 1)
add_loss("ce_probs", lambda a: F.cross_entropy(a, probs), logits, probs)
add_loss("ce_probs_smooth", lambda a: F.cross_entropy(a, probs, label_smoothing=0.1), logits, probs, label_smoothing=0.1)
logits3 = torch.randn(2, 4, 3)
cls3 = torch.tensor([[0, 3, 1], [2, 2, 0]])
add_loss("ce_spatial", lambda a: F.cross_entropy(a, cls3), logits3, cls3)
logp = torch.log_softmax(torch.randn(6, 5), 1)
add_loss("nll_weight", lambda a: F.nll_loss(a, cls, weight=w), logp, cls, weight=t(w))
p = torch.rand(4, 3) * 0.98 + 0.01; yb = (torch.rand(4, 3) > 0.5).double()
add_loss("bce", lambda a: F.binary_cross_entropy(a, yb), p, yb)
z = torch.randn(4, 3) * 3
pw = torch.tensor([0.5, 2.0, 1.0])
add_loss("bce_logits", lambda a: F.binary_cross_entropy_with_logits(a, yb), z, yb)
add_loss("bce_logits_posweight", lambda a: F.binary_cross_entropy_with_logits(a, yb, pos_weight=pw), z, yb, pos_weight=t(pw))
out["losses"] = losses

# ---------------------------------------------------------------- optimizers: 5 steps on a fixed quadratic-ish objective
def objective(p, step):
    # A different, fixed gradient each step: g = sin(p * (step + 1)) + 0.1 p
    return (torch.cos(p * (step + 1)) / (step + 1)).sum() * -1 + 0.05 * (p * p).sum()

opts = []
def run_opt(name, make, steps=5):
    p = torch.tensor([0.5, -1.5, 2.0, 0.1, -0.3], requires_grad=True)
    init = t(p)
    opt = make([p])
    traj = []
    for s in range(steps):
        opt.zero_grad()
        objective(p, s).backward()
        opt.step()
        traj.append(t(p))
    opts.append(dict(name=name, init=init, trajectory=traj))

run_opt("sgd", lambda ps: torch.optim.SGD(ps, lr=0.1))
run_opt("sgd_momentum", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9))
run_opt("sgd_nesterov_wd", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01))
run_opt("sgd_dampening", lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, dampening=0.3))
run_opt("adam", lambda ps: torch.optim.Adam(ps, lr=0.1))
run_opt("adam_wd", lambda ps: torch.optim.Adam(ps, lr=0.05, betas=(0.8, 0.95), weight_decay=0.1))
run_opt("adam_amsgrad", lambda ps: torch.optim.Adam(ps, lr=0.1, amsgrad=True))
run_opt("adamw", lambda ps: torch.optim.AdamW(ps, lr=0.1, weight_decay=0.1))
run_opt("rmsprop", lambda ps: torch.optim.RMSprop(ps, lr=0.01))
run_opt("rmsprop_centered_momentum", lambda ps: torch.optim.RMSprop(ps, lr=0.01, momentum=0.9, centered=True, weight_decay=0.01))
out["optimizers"] = opts

# ---------------------------------------------------------------- schedulers: lr after each step
scheds = []
def run_sched(name, make_sched, steps, lr=0.1):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    s = make_sched(opt)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(steps):
        opt.step(); s.step()
        lrs.append(opt.param_groups[0]["lr"])
    scheds.append(dict(name=name, lrs=lrs))
run_sched("step", lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5), 10)
run_sched("onecycle", lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=20, pct_start=0.3), 19)
out["schedulers"] = scheds

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_reference.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print("wrote", path)
