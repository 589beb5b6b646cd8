#!/usr/bin/python3
"""Reference values from PyTorch for Ember's complex tensors and linear algebra.

Run with Debian's system python (apt-get install python3-torch):  /usr/bin/python3 gen_complex_fixtures.py
Writes complex_reference.json next to this file. Each case holds the inputs, the output, a random output gradient
(complex where the output is complex) and the gradients PyTorch computes for every input (its convention: for a real
loss L and z = x + iy, z.grad = dL/dx + i dL/dy). Complex values are stored interleaved (re, im, re, im, ...).
"""
import json, os
import torch

torch.manual_seed(5)
cases = []

def enc(x):
    x = x.detach()
    if x.is_complex():
        v = torch.view_as_real(x.resolve_conj()).reshape(-1).tolist()
    else:
        v = x.reshape(-1).tolist()
    return dict(values=v, shape=list(x.shape), complex=bool(x.is_complex()))

def add(name, fn, inputs):
    ins = [x.clone().requires_grad_(True) for x in inputs]
    y = fn(*ins)
    g = torch.randn_like(y)
    (y * g.conj()).real.sum().backward() if y.is_complex() else (y * g).sum().backward()
    cases.append(dict(name=name, inputs=[enc(x) for x in ins], output=enc(y), grad_output=enc(g),
                      grads=[enc(x.grad) for x in ins]))

def c(*shape): return torch.randn(*shape, dtype=torch.complex128)
def r(*shape): return torch.randn(*shape, dtype=torch.float64)

add("mul_add_abs", lambda a, b, z: (a * b + z).abs(), [c(3, 4), c(4), c(3, 1)])
add("div_conj", lambda a, b: a / b.conj(), [c(2, 3), c(2, 3) + 2])
add("sub_neg_exp", lambda a, b: (-(a - b)).exp(), [c(5), c(5)])
add("real_times_complex", lambda x, z: x * z + x, [r(3, 4), c(3, 4)])
add("complex_from_parts", lambda x, y: torch.complex(x, y) * torch.complex(y, x), [r(6), r(6)])
add("polar", lambda m, t: torch.polar(m, t), [r(4).abs() + 0.5, r(4)])
add("angle_real_imag", lambda z: z.angle() + z.real * z.imag, [c(7)])
add("matmul", lambda a, b: a @ b, [c(2, 3, 4), c(4, 5)])
add("matmul_real_complex", lambda a, b: a.to(torch.complex128) @ b, [r(3, 4), c(4, 2)])
add("sum_mean", lambda z: z.sum(0) * z.mean(1), [c(4, 4)])
add("conj_transpose", lambda a: a.mH @ a, [c(5, 3)])
add("solve", lambda a, b: torch.linalg.solve(a, b), [c(2, 4, 4), c(2, 4, 3)])
add("solve_real", lambda a, b: torch.linalg.solve(a, b), [r(3, 3), r(3, 2)])
add("inv", lambda a: torch.linalg.inv(a), [c(4, 4)])
add("logdet", lambda a: torch.logdet(a), [c(3, 5, 5)])
add("slogdet_real", lambda a: torch.linalg.slogdet(a)[1], [r(2, 4, 4)])
add("svdvals", lambda a: torch.linalg.svdvals(a), [c(6, 4)])
add("svdvals_wide_real", lambda a: torch.linalg.svdvals(a), [r(3, 5)])
add("pinv_tall", lambda a: torch.linalg.pinv(a), [c(6, 3)])
add("pinv_wide", lambda a: torch.linalg.pinv(a), [c(2, 5)])

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "complex_reference.json")
with open(out, "w") as f:
    json.dump(dict(generator="gen_complex_fixtures.py", torch=torch.__version__, cases=cases), f)
print(f"wrote {len(cases)} cases to {out}")
