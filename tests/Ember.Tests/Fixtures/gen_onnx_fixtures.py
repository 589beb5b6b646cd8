"""Generates the ONNX import fixtures: small models exported by PyTorch's own exporter (torch.onnx.export, PyTorch 1.13
from Debian's python3-torch), with an input and PyTorch's output for each, as .npy files.
Run with Debian's system python:  /usr/bin/python3 tests/Ember.Tests/Fixtures/gen_onnx_fixtures.py
"""
import os
import numpy as np
import torch
from torch import nn

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "onnx")
os.makedirs(here, exist_ok=True)
torch.manual_seed(0)


def save(name, model, x, opset):
    model.eval()
    with torch.no_grad():
        y = model(x)
    torch.onnx.export(model, x, os.path.join(here, name + ".onnx"), opset_version=opset, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    np.save(os.path.join(here, name + "_input.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(here, name + "_output.npy"), y.numpy().astype(np.float32))
    print(name, tuple(x.shape), "->", tuple(y.shape), "opset", opset)


mlp = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 16), nn.GELU(), nn.Linear(16, 5))
save("mlp_opset13", mlp, torch.randn(6, 20), 13)

cnn = nn.Sequential(
    nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(6, 8, 3, stride=2, groups=2), nn.Sigmoid(), nn.AvgPool2d(2, ceil_mode=True),
    nn.Conv2d(8, 8, 1), nn.Tanh(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4), nn.LogSoftmax(dim=1))
with torch.no_grad():   # running statistics other than the initial ones
    cnn[1].running_mean.uniform_(-0.5, 0.5)
    cnn[1].running_var.uniform_(0.5, 1.5)
save("cnn_opset17", cnn, torch.randn(3, 1, 16, 16), 17)

mlp3d = nn.Sequential(nn.Linear(8, 12), nn.LayerNorm(12), nn.SiLU(), nn.Flatten(), nn.Linear(5 * 12, 3), nn.Softmax(dim=-1))
save("seq_opset17", mlp3d, torch.randn(4, 5, 8), 17)


class Encoder(nn.Module):
    """A Transformer encoder classifier: the exporter writes MatMul/Softmax attention with Shape, Gather, Reshape,
    Transpose, Slice, Concat, Unsqueeze and Constant nodes, and LayerNorm."""

    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True, activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        return self.head(self.encoder(x).mean(dim=1))


save("encoder_opset17", Encoder(), torch.randn(2, 7, 16), 17)


class Recurrent(nn.Module):
    """A bidirectional 2-layer LSTM and a GRU (batch first): the exporter writes ONNX LSTM/GRU nodes with their gates
    reordered, plus the Transpose/Reshape/Slice glue around them."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(6, 8, num_layers=2, batch_first=True, bidirectional=True)
        self.gru = nn.GRU(16, 5, batch_first=True)
        self.head = nn.Linear(5, 2)

    def forward(self, x):
        y, _ = self.lstm(x)
        z, _ = self.gru(y)
        return self.head(z[:, -1])


save("recurrent_opset17", Recurrent(), torch.randn(3, 9, 6), 17)
