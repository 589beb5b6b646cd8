"""Reference values for Ember's 16-bit types and autocast, from PyTorch 1.13 (Debian python3-torch):
run with /usr/bin/python3 tests/Ember.Tests/Fixtures/gen_precision_fixtures.py.

- float32 -> bfloat16 and float16 rounding: the 16-bit patterns PyTorch gives for special values and random ones
  (normals of many scales, subnormals, halfway cases).
- A Linear layer under torch.autocast("cpu", dtype=torch.bfloat16): the output, and the gradients of the input,
  weight and bias from a fixed upstream gradient.
"""
import json
import os
import struct

import torch

torch.manual_seed(0)
special = [0.0, -0.0, 1.0, -1.0, 1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, 1.0 + 2 ** -9, 65504.0, 65520.0, 1e-8, 6e-8, 3e-5,
           3.4028235e38, -3.4028235e38, float("inf"), float("-inf"), 1e-40, 2.5, 0.1, 1 / 3]
rand = (torch.randn(2000) * torch.pow(10.0, torch.randint(-12, 12, (2000,)).float())).tolist()
halfway = [struct.unpack("<f", struct.pack("<I", (b << 16) | 0x8000))[0] for b in range(0x3F80, 0x3F90)]
values = torch.tensor(special + rand + halfway, dtype=torch.float32)
bits = [struct.unpack("<I", struct.pack("<f", v))[0] for v in values.tolist()]
bf16 = values.to(torch.bfloat16).view(torch.int16).tolist()
f16 = values.to(torch.float16).view(torch.int16).tolist()
out = {
    "float_bits": bits,
    "bfloat16_bits": [b & 0xFFFF for b in bf16],
    "float16_bits": [b & 0xFFFF for b in f16],
}

lin = torch.nn.Linear(48, 24)
x = torch.randn(16, 48, requires_grad=True)
g = torch.randn(16, 24)
with torch.autocast("cpu", dtype=torch.bfloat16):
    y = lin(x)
assert y.dtype == torch.bfloat16
y.backward(g.to(torch.bfloat16))
out["linear"] = {
    "weight": lin.weight.detach().flatten().tolist(), "bias": lin.bias.detach().tolist(), "x": x.detach().flatten().tolist(),
    "upstream": g.flatten().tolist(), "y": y.float().detach().flatten().tolist(),
    "grad_x": x.grad.flatten().tolist(), "grad_w": lin.weight.grad.flatten().tolist(), "grad_b": lin.bias.grad.tolist(),
    "in": 48, "out": 24, "rows": 16,
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "precision_reference.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", path)
