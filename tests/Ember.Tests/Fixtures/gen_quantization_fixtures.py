#!/usr/bin/python3
"""Reference values for Ember's int8 quantization, computed with PyTorch's own quantizers.

Run with Debian's system python (apt-get install python3-torch):  /usr/bin/python3 gen_quantization_fixtures.py
Writes quantization_reference.json next to this file.

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

with open(os.path.join(here, "quantization_reference.json"), "w") as f:
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
ref = json.load(open(os.path.join(here, "quantization_reference.json")))
ref["lora"] = lora
with open(os.path.join(here, "quantization_reference.json"), "w") as f:
    json.dump(ref, f)
print("wrote the LoRA case")
