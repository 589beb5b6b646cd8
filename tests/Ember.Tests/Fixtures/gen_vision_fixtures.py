#!/usr/bin/python3
"""Reference values from PyTorch for Ember's convolution, pooling, normalization and resize tests.

Run with Debian's system python (apt-get install python3-torch):  /usr/bin/python3 gen_vision_fixtures.py
Writes vision_reference.json next to this file. Each case lists its inputs, the output, a random output
gradient and the resulting gradient of every input (null where the op has no gradient for it); the tests
rebuild the same op in Ember from the case name.
"""
import json, os
import torch
import torch.nn.functional as F

torch.manual_seed(1)
torch.set_default_dtype(torch.float64)
cases = []

def t(x): return x.detach().reshape(-1).tolist()

def add(name, fn, *inputs, extra=None):
    ins = [x.clone().requires_grad_(True) for x in inputs]
    y = fn(*ins)
    g = torch.randn_like(y)
    y.backward(g)
    case = dict(name=name, inputs=[dict(values=t(x), shape=list(x.shape)) for x in ins],
                output=t(y), output_shape=list(y.shape), grad_output=t(g),
                grads=[t(x.grad) if x.grad is not None else None for x in ins])
    if extra: case.update(extra)
    cases.append(case)

r = torch.randn
add("conv2d_basic", lambda x, w, b: F.conv2d(x, w, b, padding=1), r(2, 3, 7, 6), r(4, 3, 3, 3), r(4))
add("conv2d_stride_dil_asym", lambda x, w: F.conv2d(x, w, stride=(2, 1), padding=(1, 2), dilation=(1, 2)), r(2, 3, 8, 7), r(5, 3, 3, 2))
add("conv2d_groups", lambda x, w, b: F.conv2d(x, w, b, stride=2, groups=2), r(2, 4, 7, 6), r(6, 2, 3, 3), r(6))
add("conv2d_depthwise_same", lambda x, w: F.conv2d(x, w, padding="same", groups=3), r(1, 3, 5, 6), r(3, 1, 3, 3))
add("conv2d_same_even", lambda x, w: F.conv2d(x, w, padding="same", dilation=(1, 2)), r(2, 2, 6, 7), r(3, 2, 4, 2))
add("conv2d_pointwise", lambda x, w, b: F.conv2d(x, w, b), r(2, 5, 4, 3), r(3, 5, 1, 1), r(3))
add("conv1d", lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1, dilation=2), r(2, 3, 11), r(5, 3, 3), r(5))
add("conv_transpose2d", lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1), r(2, 4, 5, 4), r(4, 3, 3, 3), r(3))
add("conv_transpose2d_groups_dil", lambda x, w: F.conv_transpose2d(x, w, stride=(1, 2), padding=1, groups=2, dilation=2), r(1, 4, 4, 3), r(4, 2, 3, 2))
add("conv_transpose2d_pointwise", lambda x, w: F.conv_transpose2d(x, w), r(2, 3, 3, 4), r(3, 2, 1, 1))
add("conv_transpose1d", lambda x, w, b: F.conv_transpose1d(x, w, b, stride=3, padding=1, output_padding=2), r(2, 3, 5), r(3, 2, 4), r(2))
add("max_pool2d_2x2", lambda x: F.max_pool2d(x, 2), r(2, 3, 6, 7))
add("max_pool2d_2x2_even", lambda x: F.max_pool2d(x, 2), r(2, 3, 8, 20))
# Integer values from a small range: many ties inside windows (the first in row-major order wins).
add("max_pool2d_2x2_ties", lambda x: F.max_pool2d(x, 2), torch.randint(0, 3, (2, 2, 6, 36)).double())
add("max_pool2d_k3s2p1_ceil", lambda x: F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True), r(2, 2, 8, 7))
add("max_pool2d_dilated", lambda x: F.max_pool2d(x, 2, stride=1, dilation=2), r(1, 2, 6, 5))
add("avg_pool2d_include", lambda x: F.avg_pool2d(x, 3, stride=2, padding=1), r(2, 2, 7, 6))
add("avg_pool2d_exclude_ceil", lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), r(2, 2, 8, 7))
add("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (3, 4)), r(2, 3, 7, 5))
add("adaptive_avg_pool2d_global", lambda x: F.adaptive_avg_pool2d(x, 1), r(2, 3, 4, 5))
add("max_pool1d", lambda x: F.max_pool1d(x, 3, stride=2, padding=1), r(2, 3, 9))
add("avg_pool1d", lambda x: F.avg_pool1d(x, 2), r(2, 3, 9))

rm, rv = torch.randn(4), torch.rand(4) + 0.5
def bn_train(x, w, b):
    m, v = rm.clone(), rv.clone()
    y = F.batch_norm(x, m, v, w, b, training=True, momentum=0.2, eps=1e-5)
    bn_train.stats = (m, v)
    return y
add("batch_norm2d_train", bn_train, r(3, 4, 5, 4) * 2 + 1, r(4), r(4))
cases[-1].update(running_mean_in=t(rm), running_var_in=t(rv), running_mean=t(bn_train.stats[0]), running_var=t(bn_train.stats[1]))
add("batch_norm1d_train", bn_train, r(6, 4) * 3 - 2, r(4), r(4))
cases[-1].update(running_mean_in=t(rm), running_var_in=t(rv), running_mean=t(bn_train.stats[0]), running_var=t(bn_train.stats[1]))
add("batch_norm2d_eval", lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False, eps=1e-3), r(2, 4, 3, 3), r(4), r(4),
    extra=dict(running_mean_in=t(rm), running_var_in=t(rv)))
add("layer_norm", lambda x, w, b: F.layer_norm(x, (3, 5), w, b), r(2, 4, 3, 5) * 2 + 3, r(3, 5), r(3, 5))
add("layer_norm_plain", lambda x: F.layer_norm(x, (6,)), r(5, 6))
add("group_norm", lambda x, w, b: F.group_norm(x, 2, w, b), r(3, 6, 4, 3), r(6), r(6))
add("interp_nearest_size", lambda x: F.interpolate(x, size=(5, 7), mode="nearest"), r(2, 2, 3, 4))
add("interp_nearest_scale2", lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), r(1, 2, 3, 4))
add("interp_bilinear", lambda x: F.interpolate(x, size=(5, 7), mode="bilinear", align_corners=False), r(2, 2, 3, 4))
add("interp_bilinear_align", lambda x: F.interpolate(x, size=(5, 7), mode="bilinear", align_corners=True), r(2, 2, 3, 4))
add("interp_bilinear_scale2", lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False), r(1, 2, 3, 4))
add("interp_bilinear_down", lambda x: F.interpolate(x, size=(2, 3), mode="bilinear"), r(1, 2, 5, 7))

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vision_reference.json")
with open(path, "w") as f:
    json.dump({"torch_version": torch.__version__, "cases": cases}, f)
print(f"wrote {len(cases)} cases to {path}")
