#!/usr/bin/python3
"""PyTorch 1.13 reference run for `ember milestone vae` (issue 24): the same convolutional VAE, the same recipe.

Architecture (Ember.Models.Vae, VaeConfig defaults: latent 16, width 32, hidden 256, Bernoulli decoder):
  encoder  conv(1→32, 4, s2, p1)-ReLU, conv(32→64, 4, s2, p1)-ReLU, flatten, FC(3136→256)-ReLU; to_stats FC(256→32)
  decoder  FC(16→256)-ReLU, FC(256→3136)-ReLU, view (64, 7, 7), convT(64→32, 4, s2, p1)-ReLU, convT(32→1, 4, s2, p1)
Recipe (Ember.Recipes.Milestones.VaeRecipe): MNIST 10k subset (8,000 train / 2,000 test), pixels/255 binarized at 0.5,
batch 128 shuffled each epoch, Adam lr 1e-3, 30 epochs, one posterior sample per image; PyTorch's default init.
Reports the test negative ELBO (nats per image, one sample per image, mean of 5 passes) and the importance-weighted
estimate of -log p(x) with k = 100 on all 2,000 test digits.

Usage: /usr/bin/python3 bench/reference/vae_reference.py [MNIST_FOLDER] [SEEDS] > bench/reference/vae_reference.json
"""
import gzip
import json
import math
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

folder = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/mnist-10k"
seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 1
EPOCHS, BATCH, LR, LATENT, WIDTH, HIDDEN = 30, 128, 1e-3, 16, 32, 256
torch.set_num_threads(2)


def idx_images(path):
    with gzip.open(path, "rb") as f:
        magic, n, h, w = struct.unpack(">IIII", f.read(16))
        assert magic == 0x803
        return np.frombuffer(f.read(), dtype=np.uint8).reshape(n, 1, h, w)


def load(split):
    x = torch.from_numpy(idx_images(f"{folder}/{split}-images-idx3-ubyte.gz").astype(np.float32) / 255.0)
    return (x > 0.5).float()


class Vae(nn.Module):
    def __init__(self):
        super().__init__()
        w, w2, flat = WIDTH, 2 * WIDTH, 2 * WIDTH * 7 * 7
        self.encoder = nn.Sequential(nn.Conv2d(1, w, 4, 2, 1), nn.ReLU(), nn.Conv2d(w, w2, 4, 2, 1), nn.ReLU(), nn.Flatten(),
                                     nn.Linear(flat, HIDDEN), nn.ReLU())
        self.to_stats = nn.Linear(HIDDEN, 2 * LATENT)
        self.decoder_input = nn.Sequential(nn.Linear(LATENT, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, flat), nn.ReLU())
        self.decoder = nn.Sequential(nn.ConvTranspose2d(w2, w, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(w, 1, 4, 2, 1))

    def encode(self, x):
        s = self.to_stats(self.encoder(x))
        return s[:, :LATENT], s[:, LATENT:]

    def decode(self, z):
        return self.decoder(self.decoder_input(z).view(-1, 2 * WIDTH, 7, 7))

    def terms(self, x):
        mu, lv = self.encode(x)
        z = mu + (0.5 * lv).exp() * torch.randn_like(mu)
        rec = F.binary_cross_entropy_with_logits(self.decode(z), x, reduction="none").flatten(1).sum(1)
        kl = 0.5 * (mu * mu + lv.exp() - 1 - lv).sum(1)
        return rec, kl

    @torch.no_grad()
    def iwae(self, x, k=100, chunk=16):
        out = []
        for s in range(0, len(x), chunk):
            xb = x[s:s + chunk]
            m = len(xb)
            mu, lv = self.encode(xb)
            eps = torch.randn(m, k, LATENT)
            z = mu[:, None] + (0.5 * lv[:, None]).exp() * eps
            log_q = (-0.5 * eps * eps - 0.5 * lv[:, None]).sum(2) - 0.5 * math.log(2 * math.pi) * LATENT
            log_pz = (-0.5 * z * z).sum(2) - 0.5 * math.log(2 * math.pi) * LATENT
            logits = self.decode(z.reshape(m * k, LATENT))
            xk = xb[:, None].expand(m, k, *xb.shape[1:]).reshape(m * k, *xb.shape[1:])
            log_px = -F.binary_cross_entropy_with_logits(logits, xk, reduction="none").flatten(1).sum(1).view(m, k)
            out.append(torch.logsumexp(log_px + log_pz - log_q, 1) - math.log(k))
        return torch.cat(out)


xtr, xte = load("train"), load("t10k")
runs = []
for seed in range(1, seeds + 1):
    torch.manual_seed(seed)
    model = Vae()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    t0 = time.time()
    for epoch in range(EPOCHS):
        model.train()
        for idx in torch.randperm(len(xtr)).split(BATCH):
            rec, kl = model.terms(xtr[idx])
            loss = (rec + kl).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    train_s = time.time() - t0
    model.eval()
    with torch.no_grad():
        passes = [model.terms(xte) for _ in range(5)]
        neg_elbo = float(np.mean([(r + k).mean().item() for r, k in passes]))
        rec = float(np.mean([r.mean().item() for r, _ in passes]))
        kl = float(np.mean([k.mean().item() for _, k in passes]))
    nll = float(-model.iwae(xte).mean())
    runs.append(dict(seed=seed, test_neg_elbo=neg_elbo, test_reconstruction=rec, test_kl=kl, test_iwae_nll_k100=nll, train_seconds=train_s))
    print(json.dumps(runs[-1]), file=sys.stderr)

summary = {k: float(np.mean([r[k] for r in runs])) for k in ("test_neg_elbo", "test_reconstruction", "test_kl", "test_iwae_nll_k100")}
print(json.dumps(dict(torch=torch.__version__, epochs=EPOCHS, batch=BATCH, lr=LR, latent=LATENT, width=WIDTH, hidden=HIDDEN,
                      runs=runs, mean=summary), indent=1))
