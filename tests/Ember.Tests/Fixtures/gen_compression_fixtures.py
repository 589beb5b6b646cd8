#!/usr/bin/python3
"""Reference values for Ember's compression (int8 quantization, LoRA, pruning), computed with PyTorch.

Run with Debian's system python (apt-get install python3-torch):  /usr/bin/python3 gen_compression_fixtures.py
Writes compression_reference.json next to this file.

Ember's dynamic scheme, restated here with torch's primitives:
- weights per output channel, symmetric: scale_j = max|w_j| / 127, q = torch.quantize_per_channel(w, scale, 0, axis 0,
  qint8) clamped to -127..127;
- inputs per row, asymmetric 7-bit (FBGEMM's reduce_range): lo = min(0, min x), hi = max(0, max x),
  scale = (hi - lo) / 127, zero point = round(-lo / scale), q = torch.quantize_per_tensor(row, scale, zp, quint8)
  clamped to 0..127;
- y = (q_x - zp) . q_w^T * scale_x * scale_j + b, summed exactly (int64) and scaled in float64.
"""
import json, os
import torch

torch.manual_seed(0)
here = os.path.dirname(os.path.abspath(__file__))

def quantize_weight(w):
    amax = w.abs().amax(dim=1)
    scale = torch.where(amax > 0, amax / 127, torch.ones_like(amax)).float()
    q = torch.quantize_per_channel(w, scale.double(), torch.zeros(w.shape[0], dtype=torch.long), 0, torch.qint8)
    return q.int_repr().clamp(-127, 127).long(), scale

def quantize_rows(x):
    qs, scales, zps = [], [], []
    for row in x:
        lo = torch.clamp(row.min(), max=0.0)
        hi = torch.clamp(row.max(), min=0.0)
        scale = ((hi - lo) / 127).float().item()
        if scale == 0:
            scale, zp = 1.0, 0
        else:
            zp = int(torch.round(torch.tensor(-lo.item() / scale, dtype=torch.float32)).item())
            zp = max(0, min(127, zp))
        q = torch.quantize_per_tensor(row, scale, zp, torch.quint8).int_repr().long().clamp(0, 127)
        qs.append(q); scales.append(scale); zps.append(zp)
    return torch.stack(qs), scales, zps

cases = []
for (n, k, m) in [(5, 70, 37), (1, 128, 40), (3, 9, 4)]:
    x = torch.randn(n, k) * 2 + 0.3
    if n >= 3:
        x[1] = x[1].abs() + 0.1     # all positive: zero point 0
        x[2] = -x[2].abs() - 0.1    # all negative: zero point 127
    w = torch.randn(m, k) * 0.2
    b = torch.randn(m) * 0.1
    qw, sw = quantize_weight(w)
    qx, sx, zx = quantize_rows(x)
    acc = (qx - torch.tensor(zx).unsqueeze(1)) @ qw.T
    y = acc.double() * torch.tensor(sx, dtype=torch.float64).unsqueeze(1) * sw.double() + b.double()
    cases.append(dict(n=n, k=k, m=m, x=x.flatten().tolist(), weight=w.flatten().tolist(), bias=b.tolist(),
                      weight_q=qw.flatten().tolist(), weight_scale=sw.tolist(),
                      input_q=qx.flatten().tolist(), input_scale=sx, input_zero=zx,
                      y_int8=y.flatten().tolist(), y_float=torch.nn.functional.linear(x, w, b).flatten().tolist()))

with open(os.path.join(here, "compression_reference.json"), "w") as f:
    json.dump(dict(torch=torch.__version__, linear=cases), f)
print("wrote", len(cases), "cases")

# LoRA: y = x W^T + b + (alpha / r) * dropout(x) A^T B^T with a nonzero B (as after some training), and the gradients
# of sum(y * g) with respect to x, A and B (W and b frozen), by PyTorch's autograd.
torch.manual_seed(1)
n, k, m, r, alpha = 6, 20, 12, 4, 8.0
x = torch.randn(n, k, requires_grad=True)
w = torch.randn(m, k) * 0.3
b = torch.randn(m) * 0.1
A = (torch.randn(r, k) * 0.2).requires_grad_()
B = (torch.randn(m, r) * 0.2).requires_grad_()
g = torch.randn(n, m)
y = torch.nn.functional.linear(x, w, b) + (alpha / r) * (x @ A.T) @ B.T
(y * g).sum().backward()
lora = dict(n=n, k=k, m=m, r=r, alpha=alpha, x=x.detach().flatten().tolist(), weight=w.flatten().tolist(), bias=b.tolist(),
            lora_A=A.detach().flatten().tolist(), lora_B=B.detach().flatten().tolist(), g=g.flatten().tolist(),
            y=y.detach().flatten().tolist(), grad_x=x.grad.flatten().tolist(), grad_A=A.grad.flatten().tolist(),
            grad_B=B.grad.flatten().tolist(), merged=(w + (alpha / r) * B.detach() @ A.detach()).flatten().tolist())
ref = json.load(open(os.path.join(here, "compression_reference.json")))
ref["lora"] = lora
with open(os.path.join(here, "compression_reference.json"), "w") as f:
    json.dump(ref, f)
print("wrote the LoRA case")

# Pruning with torch.nn.utils.prune: global L1 unstructured over a Linear and a Conv2d weight (amount 0.4), then a
# second, per-layer l1_unstructured on the Linear (0.3 of what is left); and L1 structured (ln_structured, n=1, dim 0)
# at 0.5 on the hidden layers of a small CNN, whose pruned channels are then cut out by index_select and the sliced
# network run in eval mode.
import torch.nn as nn
import torch.nn.utils.prune as prune
torch.manual_seed(2)
lin, conv = nn.Linear(30, 20), nn.Conv2d(3, 8, 3)
w_lin, w_conv = lin.weight.detach().clone(), conv.weight.detach().clone()
prune.global_unstructured([(lin, "weight"), (conv, "weight")], pruning_method=prune.L1Unstructured, amount=0.4)
mask_global_lin, mask_global_conv = lin.weight_mask.clone(), conv.weight_mask.clone()
prune.l1_unstructured(lin, "weight", amount=0.3)
unstructured = dict(linear_weight=w_lin.flatten().tolist(), conv_weight=w_conv.flatten().tolist(),
                    mask_global_linear=mask_global_lin.flatten().tolist(), mask_global_conv=mask_global_conv.flatten().tolist(),
                    mask_iterative_linear=lin.weight_mask.flatten().tolist())

torch.manual_seed(3)
net = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Conv2d(6, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Flatten(), nn.Linear(8 * 2 * 2, 16), nn.ReLU(), nn.Linear(16, 4))
for bn in (net[1], net[5]):
    bn.running_mean.copy_(torch.randn(bn.num_features) * 0.2)
    bn.running_var.copy_(torch.rand(bn.num_features) + 0.5)
    bn.weight.data.copy_(torch.rand(bn.num_features) + 0.5)
    bn.bias.data.copy_(torch.randn(bn.num_features) * 0.1)
net.eval()
state = {k: v.detach().clone() for k, v in net.state_dict().items()}
x = torch.randn(3, 1, 8, 8)
keeps = {}
for i in (0, 4, 9):
    layer = net[i]
    prune.ln_structured(layer, "weight", amount=0.5, n=1, dim=0)
    keeps[i] = (layer.weight_mask.flatten(1).sum(1) > 0).nonzero().flatten()
    prune.remove(layer, "weight")
with torch.no_grad():
    k0, k4, k9 = keeps[0], keeps[4], keeps[9]
    sliced = nn.Sequential(nn.Conv2d(1, len(k0), 3, padding=1, bias=False), nn.BatchNorm2d(len(k0)), nn.ReLU(), nn.MaxPool2d(2),
                           nn.Conv2d(len(k0), len(k4), 3, padding=1), nn.BatchNorm2d(len(k4)), nn.ReLU(), nn.MaxPool2d(2),
                           nn.Flatten(), nn.Linear(len(k4) * 4, len(k9)), nn.ReLU(), nn.Linear(len(k9), 4)).eval()
    sliced[0].weight.copy_(state["0.weight"][k0])
    for j, keep in ((1, k0), (5, k4)):
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(sliced[j], name).copy_(state[f"{j}.{name}"][keep])
    sliced[4].weight.copy_(state["4.weight"][k4][:, k0]); sliced[4].bias.copy_(state["4.bias"][k4])
    cols = torch.cat([torch.arange(c * 4, c * 4 + 4) for c in k4.tolist()])
    sliced[9].weight.copy_(state["9.weight"][k9][:, cols]); sliced[9].bias.copy_(state["9.bias"][k9])
    sliced[11].weight.copy_(state["11.weight"][:, k9]); sliced[11].bias.copy_(state["11.bias"])
    y = sliced(x)
structured = dict(state={k: v.flatten().tolist() for k, v in state.items() if v.dtype == torch.float32},
                  x=x.flatten().tolist(), y=y.flatten().tolist(), keep0=k0.tolist(), keep4=k4.tolist(), keep9=k9.tolist())
ref = json.load(open(os.path.join(here, "compression_reference.json")))
ref["pruning_unstructured"] = unstructured
ref["pruning_structured"] = structured
with open(os.path.join(here, "compression_reference.json"), "w") as f:
    json.dump(ref, f)
print("wrote the pruning cases")

# Distillation: alpha * T^2 * kl_div(log_softmax(s / T), softmax(t / T), 'batchmean') + (1 - alpha) * cross_entropy(s, y),
# with its gradient with respect to the student logits; and kl_div with zeros in the target and with log_target.
torch.manual_seed(4)
s = (torch.randn(5, 7) * 2).requires_grad_()
t = torch.randn(5, 7) * 3
y = torch.randint(0, 7, (5,))
T, alpha = 3.0, 0.7
F = torch.nn.functional
loss = alpha * T * T * F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean") + (1 - alpha) * F.cross_entropy(s, y)
loss.backward()
p = torch.softmax(torch.randn(4, 6), 1)
p[0, 2] = 0; p[3, 5] = 0
q = torch.log_softmax(torch.randn(4, 6), 1)
distill = dict(student=s.detach().flatten().tolist(), teacher=t.flatten().tolist(), target=y.tolist(), temperature=T, alpha=alpha,
               loss=loss.item(), grad=s.grad.flatten().tolist(), p=p.flatten().tolist(), q=q.flatten().tolist(),
               kl_batchmean=F.kl_div(q, p, reduction="batchmean").item(), kl_sum=F.kl_div(q, p, reduction="sum").item(),
               kl_none=F.kl_div(q, p, reduction="none").flatten().tolist(),
               kl_log_target=F.kl_div(q, torch.log_softmax(torch.ones(4, 6), 1), reduction="mean", log_target=True).item())
ref = json.load(open(os.path.join(here, "compression_reference.json")))
ref["distillation"] = distill
with open(os.path.join(here, "compression_reference.json"), "w") as f:
    json.dump(ref, f)
print("wrote the distillation case")

# Calibration: NumPy's percentiles (linear interpolation) of a sample with outliers, for the Percentile method.
import numpy as np
rng = np.random.default_rng(5)
sample = np.concatenate([rng.normal(0.5, 1.0, 4000), rng.normal(0, 30, 8)]).astype(np.float32)
calib = dict(sample=sample.tolist(), p_low=float(np.percentile(sample, 0.5)), p_high=float(np.percentile(sample, 99.5)),
             minimum=float(sample.min()), maximum=float(sample.max()))
ref = json.load(open(os.path.join(here, "compression_reference.json")))
ref["calibration"] = calib
with open(os.path.join(here, "compression_reference.json"), "w") as f:
    json.dump(ref, f)
print("wrote the calibration case")
