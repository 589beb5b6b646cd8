"""Reference values for Ember's fake quantization (quantization-aware training) from PyTorch 1.13 (Debian
python3-torch): run with /usr/bin/python3 tests/Ember.Tests/Fixtures/gen_qat_fixtures.py.

torch.fake_quantize_per_channel_affine on a weight (per output channel, symmetric, scale max|w|/127, levels
-127..127) and on an input (per row, 7-bit 0..127 with zero point round(-min/scale), scale (max-min)/127 over a range
widened to include 0), with the gradients of a fixed upstream gradient (straight-through estimator).
"""
import json
import os

import torch

torch.manual_seed(1)
w = (torch.randn(12, 20) * torch.linspace(0.01, 3, 12)[:, None]).requires_grad_()
scale_w = w.detach().abs().amax(dim=1) / 127
yw = torch.fake_quantize_per_channel_affine(w, scale_w, torch.zeros(12, dtype=torch.int32), 0, -127, 127)
gw = torch.randn(12, 20)
yw.backward(gw)

x = (torch.randn(9, 16) * 2 + torch.linspace(-3, 3, 9)[:, None]).requires_grad_()
lo = torch.clamp(x.detach().amin(dim=1), max=0)
hi = torch.clamp(x.detach().amax(dim=1), min=0)
scale_x = (hi - lo) / 127
zp = torch.clamp(torch.round(-lo / scale_x), 0, 127).to(torch.int32)
yx = torch.fake_quantize_per_channel_affine(x, scale_x, zp, 0, 0, 127)
gx = torch.randn(9, 16)
yx.backward(gx)

out = {
    "w": w.detach().flatten().tolist(), "w_shape": [12, 20], "yw": yw.detach().flatten().tolist(), "gw_up": gw.flatten().tolist(), "gw": w.grad.flatten().tolist(),
    "x": x.detach().flatten().tolist(), "x_shape": [9, 16], "yx": yx.detach().flatten().tolist(), "gx_up": gx.flatten().tolist(), "gx": x.grad.flatten().tolist(),
    "x_scales": scale_x.tolist(),
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "qat_reference.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", path)
