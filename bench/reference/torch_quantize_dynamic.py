#!/usr/bin/python3
"""PyTorch 1.13's dynamic int8 quantization of the KJV character GPT that 'ember milestone gpt' trains, side by side
with Ember's (bench: 'Ember.Bench int8-gpt DIR' measures the same things on the same checkpoint).

Run with Debian's system python (apt-get install python3-torch):
    /usr/bin/python3 bench/reference/torch_quantize_dynamic.py runs/gpt [../shared/data/kjv/kjv.txt.gz]
DIR holds model.safetensors and chars.json. Reports, for float32 and for torch.quantization.quantize_dynamic
({nn.Linear}, qint8; FBGEMM on x86), the validation loss over the first 200 non-overlapping 128-character windows of
the text's last 10%, the state-dict size, and the per-token latency of greedy generation at batch 1 with a key/value
cache (100 tokens after the prompt 'Ge1:1 In the beginning'; median of 5 rounds alternating float32 and int8), on 2
threads.
"""
import gzip, io, json, math, os, struct, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)
run_dir = sys.argv[1]
kjv = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "kjv", "kjv.txt.gz")

def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    dtypes = {"F32": torch.float32, "I64": torch.int64, "I8": torch.int8}
    tensors = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        tensors[name] = torch.frombuffer(bytearray(data[b:end]), dtype=dtypes[e["dtype"]]).reshape(e["shape"])
    return tensors, meta

state, meta = load_safetensors(os.path.join(run_dir, "model.safetensors"))
chars = json.load(open(os.path.join(run_dir, "chars.json"), encoding="utf-8"))
vocab = chars["Chars"] if isinstance(chars, dict) else chars
stoi = {c: i for i, c in enumerate(vocab)}
V, T, L, H, E = (int(meta[k]) for k in ("vocab_size", "context_length", "n_layer", "n_head", "n_embd"))

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(E), nn.LayerNorm(E)
        self.c_attn, self.c_proj = nn.Linear(E, 3 * E), nn.Linear(E, E)
        self.fc, self.proj = nn.Linear(E, 4 * E), nn.Linear(4 * E, E)
    def forward(self, x, cache):
        B, t, _ = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(E, 2)
        heads = lambda z: z.view(B, t, H, E // H).transpose(1, 2)
        q, k, v = heads(q), heads(k), heads(v)
        past = 0
        if cache is not None:
            if "k" in cache:
                past = cache["k"].shape[2]
                k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)
            cache["k"], cache["v"] = k, v
        att = (q @ k.transpose(-2, -1)) / math.sqrt(E // H)
        s = k.shape[2]
        mask = torch.ones(t, s, dtype=torch.bool).tril(diagonal=past)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, t, E)
        x = x + self.c_proj(y)
        return x + self.proj(F.gelu(self.fc(self.ln_2(x))))

class Gpt(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, E), nn.Embedding(T, E)
        self.h = nn.ModuleList([Block() for _ in range(L)])
        self.ln_f = nn.LayerNorm(E)
    def forward(self, idx, caches=None, past=0):
        x = self.wte(idx) + self.wpe(torch.arange(past, past + idx.shape[1]))
        for i, b in enumerate(self.h):
            x = b(x, None if caches is None else caches[i])
        return F.linear(self.ln_f(x), self.wte.weight)

model = Gpt()
renamed = {}
for k, v in state.items():
    k = k.replace(".attn.c_attn.", ".c_attn.").replace(".attn.c_proj.", ".c_proj.").replace(".mlp.0.", ".fc.").replace(".mlp.2.", ".proj.")
    renamed[k] = v
model.load_state_dict(renamed)
model.eval()
qmodel = torch.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)

text = gzip.open(kjv, "rt", encoding="utf-8").read() if kjv.endswith(".gz") else open(kjv, encoding="utf-8").read()
data = [stoi[c] for c in text]
val = torch.tensor(data[int(len(data) * 0.9):])
windows = min(200, (len(val) - 1) // T)

def val_loss(m):
    total = 0.0
    with torch.no_grad():
        for w in range(0, windows, 20):
            n = min(20, windows - w)
            x = torch.stack([val[(w + i) * T:(w + i) * T + T] for i in range(n)])
            y = torch.stack([val[(w + i) * T + 1:(w + i) * T + T + 1] for i in range(n)])
            total += F.cross_entropy(m(x).reshape(-1, V), y.reshape(-1), reduction="sum").item()
    return total / (windows * T)

def state_bytes(m):
    buf = io.BytesIO()
    torch.save(m.state_dict(), buf)
    return buf.tell()

def generate(m, tokens=100):
    idx = torch.tensor([[stoi[c] for c in "Ge1:1 In the beginning"]])
    caches = [dict() for _ in range(L)]
    with torch.no_grad():
        logits = m(idx, caches, 0)
        past = idx.shape[1]
        for _ in range(tokens):
            nxt = logits[:, -1].argmax(-1, keepdim=True)
            logits = m(nxt, caches, past)
            past += 1

for _ in range(2): generate(model, 20); generate(qmodel, 20)
tf, tq = [], []
for _ in range(5):
    t0 = time.perf_counter(); generate(model); tf.append((time.perf_counter() - t0) * 1000 / 100)
    t0 = time.perf_counter(); generate(qmodel); tq.append((time.perf_counter() - t0) * 1000 / 100)
med = lambda v: sorted(v)[len(v) // 2]
lf, lq = val_loss(model), val_loss(qmodel)
print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, engine {torch.backends.quantized.engine}")
print(f"validation loss ({windows} windows of {T}): float32 {lf:.4f}, dynamic int8 {lq:.4f} (+{lq - lf:.4f})")
print(f"state dict: float32 {state_bytes(model):,} bytes, dynamic int8 {state_bytes(qmodel):,} bytes")
print(f"per token (batch 1, KV cache, greedy): float32 {med(tf):.3f} ms, dynamic int8 {med(tq):.3f} ms")
