#!/usr/bin/python3
"""Reference values from PyTorch for Ember's attention, transformer-layer and embedding tests.

Run with Debian's system python (apt-get install python3-torch):  /usr/bin/python3 gen_sequence_fixtures.py
Writes sequence_reference.json next to this file. Each module case holds the module's state dict (PyTorch's
parameter names), the inputs, the output, a random output gradient, and the gradients of the float inputs
and of every parameter. Modules run in eval mode (no dropout) in float64.
"""
import json, os
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(3)
torch.set_default_dtype(torch.float64)
cases = []

def t(x): return x.detach().reshape(-1).tolist()
def enc(x): return dict(values=t(x), shape=list(x.shape), dtype=str(x.dtype).replace("torch.", ""))

def add(name, module, inputs, fn):
    module.eval()
    module.zero_grad(set_to_none=True)
    ins = [x.clone().requires_grad_(True) if x.is_floating_point() else x for x in inputs]
    y = fn(module, *ins)
    g = torch.randn_like(y)
    y.backward(g)
    cases.append(dict(name=name,
                      state={k: enc(v) for k, v in module.state_dict().items()},
                      inputs=[enc(x) for x in ins], output=enc(y), grad_output=t(g),
                      grads=[t(x.grad) if x.is_floating_point() else None for x in ins],
                      param_grads={k: t(p.grad) for k, p in module.named_parameters() if p.grad is not None}))

r = torch.randn
mha = nn.MultiheadAttention(8, 2)
add("mha_self", mha, [r(5, 3, 8)], lambda m, x: m(x, x, x, need_weights=False)[0])
mha = nn.MultiheadAttention(8, 2, batch_first=True)
add("mha_weights_avg", mha, [r(3, 5, 8)], lambda m, x: m(x, x, x, need_weights=True)[1])
add("mha_weights_heads", mha, [r(3, 5, 8)], lambda m, x: m(x, x, x, need_weights=True, average_attn_weights=False)[1])
kpm = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
am = torch.triu(torch.ones(4, 6, dtype=torch.bool), diagonal=3)
mha = nn.MultiheadAttention(8, 4, kdim=5, vdim=6, batch_first=True)
add("mha_cross_masks", mha, [r(2, 4, 8), r(2, 6, 5), r(2, 6, 6)],
    lambda m, q, k, v: m(q, k, v, key_padding_mask=kpm, attn_mask=am, need_weights=False)[0])
fmask = r(4, 6)
mha = nn.MultiheadAttention(8, 2, batch_first=True, bias=False)
add("mha_float_mask_nobias", mha, [r(2, 4, 8), r(2, 6, 8)], lambda m, q, kv: m(q, kv, kv, attn_mask=fmask, need_weights=False)[0])
cases[-1]["mask"] = enc(fmask)

causal = torch.triu(torch.full((5, 5), float("-inf")), diagonal=1)
layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True)
add("encoder_post_norm", layer, [r(2, 5, 8)], lambda m, x: m(x, src_mask=causal))
layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True, norm_first=True, activation="gelu")
add("encoder_pre_norm_gelu", layer, [r(2, 5, 8)], lambda m, x: m(x, src_key_padding_mask=torch.tensor([[False] * 5, [False] * 3 + [True] * 2])))
layer = nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.0)
add("decoder_post_norm", layer, [r(5, 2, 8), r(7, 2, 8)], lambda m, x, mem: m(x, mem, tgt_mask=causal))
layer = nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True, norm_first=True)
add("decoder_pre_norm", layer, [r(2, 5, 8), r(2, 7, 8)], lambda m, x, mem: m(x, mem, tgt_mask=causal))

emb = nn.Embedding(10, 4, padding_idx=2)
add("embedding_padding", emb, [torch.tensor([[1, 2, 3], [2, 9, 1]])], lambda m, i: m(i))

# Functional attention with a causal mask, float64, no module (state is empty).
class Sdpa(nn.Module):
    def forward(self, q, k, v):
        s = q @ k.transpose(-2, -1) / (q.shape[-1] ** 0.5) + torch.triu(torch.full((q.shape[-2], k.shape[-2]), float("-inf")), diagonal=1)
        return torch.softmax(s, -1) @ v
add("sdpa_causal", Sdpa(), [r(2, 3, 5, 4), r(2, 3, 5, 4), r(2, 3, 5, 6)], lambda m, q, k, v: m(q, k, v))

class Rms(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(6) + 0.5)
    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight
add("rms_norm", Rms(), [r(3, 4, 6)], lambda m, x: m(x))

rnn = nn.RNN(3, 4, num_layers=2, batch_first=True, bidirectional=True)
add("rnn_2layer_bidir", rnn, [r(2, 5, 3)], lambda m, x: torch.cat([t_.reshape(-1) for t_ in (lambda o: (o[0], o[1]))(m(x))]))
lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
add("lstm_2layer_bidir_state", lstm, [r(5, 2, 3), r(4, 2, 4), r(4, 2, 4)],
    lambda m, x, h, c: torch.cat([t_.reshape(-1) for t_ in (lambda o: (o[0], o[1][0], o[1][1]))(m(x, (h, c)))]))
gru = nn.GRU(3, 5, batch_first=True)
add("gru_unbatched", gru, [r(6, 3), r(1, 5)], lambda m, x, h: torch.cat([t_.reshape(-1) for t_ in m(x, h)]))
rnn = nn.RNN(3, 4, nonlinearity="relu", bias=False)
add("rnn_relu_nobias", rnn, [r(4, 2, 3)], lambda m, x: m(x)[0])

class Rope(nn.Module):
    def forward(self, x):
        T, D = x.shape[-2], x.shape[-1]
        pos = torch.arange(3, 3 + T, dtype=torch.float64)[:, None]
        inv = 10000.0 ** (-torch.arange(0, D, 2, dtype=torch.float64) / D)
        ang = pos * inv[None, :]
        c, s = torch.cos(ang), torch.sin(ang)
        xe, xo = x[..., 0::2], x[..., 1::2]
        return torch.stack([xe * c - xo * s, xe * s + xo * c], -1).reshape(x.shape)
add("rotary_offset3", Rope(), [r(2, 5, 6)], lambda m, x: m(x))

class Sin(nn.Module):
    def forward(self, x):
        T, D = x.shape[-2], x.shape[-1]
        pe = torch.zeros(T, D)
        pos = torch.arange(T, dtype=torch.float64)[:, None]
        div = torch.exp(torch.arange(0, D, 2, dtype=torch.float64) * (-torch.log(torch.tensor(10000.0)) / D))
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)
        return x + pe
add("sinusoidal", Sin(), [r(2, 7, 6)], lambda m, x: m(x))

# The full encoder-decoder (nn.Transformer: encoder and decoder stacks, each closed by a LayerNorm) with padding masks
# on the source (and on the memory) and a causal mask on the target.
tr = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=16, dropout=0.0, batch_first=True)
spm = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
add("transformer_full", tr, [r(2, 6, 8), r(2, 5, 8)],
    lambda m, s, tg: m(s, tg, tgt_mask=causal, src_key_padding_mask=spm, memory_key_padding_mask=spm))
tr = nn.Transformer(d_model=8, nhead=4, num_encoder_layers=1, num_decoder_layers=2, dim_feedforward=12, dropout=0.0, norm_first=True,
                    activation="gelu")
add("transformer_pre_norm", tr, [r(6, 2, 8), r(5, 2, 8)], lambda m, s, tg: m(s, tg, tgt_mask=causal))

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sequence_reference.json")
with open(path, "w") as f:
    json.dump({"torch_version": torch.__version__, "cases": cases}, f)
print(f"wrote {len(cases)} cases to {path}")
