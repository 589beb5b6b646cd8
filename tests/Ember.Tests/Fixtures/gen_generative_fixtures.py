#!/usr/bin/python3
"""Reference values from PyTorch 1.13 for Ember's VAE and Vision Transformer tests (issue 24).

Run with Debian's system python (apt-get install python3-torch):  /usr/bin/python3 gen_generative_fixtures.py
Writes generative_reference.json next to this file.

vae_*: a tiny VAE built from PyTorch modules with Ember.Models.Vae's layout and parameter names; for fixed images and
fixed noise ε: the posterior statistics, the decoder logits at z = μ + σ·ε, the Bernoulli and Gaussian log-likelihoods
(torch.distributions), the KL to N(0, I) (torch.distributions.kl_divergence) and the gradients of the negative ELBO.
vae_1d: a VAE with a one-dimensional latent whose exact log p(x) = log ∫ p(x|z) p(z) dz is computed by quadrature
(20,001 points on [-10, 10]): the importance-weighted estimate must converge to it.
vit: a tiny ViT built from nn.Conv2d, nn.TransformerEncoder(norm_first, batch_first, GELU) and nn.Linear with
Ember.Models.VisionTransformer's names: logits, gradients, each block's head-averaged attention, and the attention
rollout computed here from those weights.
"""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.distributions import Bernoulli, Normal, kl_divergence

torch.manual_seed(7)
out = {}


def t(x):
    return x.detach().reshape(-1).tolist()


def state(m):
    return {k: dict(shape=list(v.shape), values=t(v)) for k, v in m.state_dict().items()}


class Vae(nn.Module):
    def __init__(self, c, s, latent, w, hidden, gaussian=False):
        super().__init__()
        self.c, self.s, self.latent, self.w = c, s, latent, w
        flat = 2 * w * (s // 4) ** 2
        self.encoder = nn.Sequential(nn.Conv2d(c, w, 4, 2, 1), nn.ReLU(), nn.Conv2d(w, 2 * w, 4, 2, 1), nn.ReLU(), nn.Flatten(),
                                     nn.Linear(flat, hidden), nn.ReLU())
        self.to_stats = nn.Linear(hidden, 2 * latent)
        self.decoder_input = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, flat), nn.ReLU())
        self.decoder = nn.Sequential(nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(w, c, 4, 2, 1))
        if gaussian:
            self.log_scale = nn.Parameter(torch.tensor([0.3]))

    def encode(self, x):
        s = self.to_stats(self.encoder(x))
        return s[:, :self.latent], s[:, self.latent:]

    def decode(self, z):
        return self.decoder(self.decoder_input(z).view(-1, 2 * self.w, self.s // 4, self.s // 4))


# --- tiny VAE, Bernoulli and Gaussian likelihoods
for name, gaussian in (("vae_bernoulli", False), ("vae_gaussian", True)):
    m = Vae(2, 8, 3, 4, 16, gaussian)
    x = (torch.rand(3, 2, 8, 8) > 0.5).float() if not gaussian else torch.rand(3, 2, 8, 8)
    eps = torch.randn(3, 3)
    mu, lv = m.encode(x)
    z = mu + (0.5 * lv).exp() * eps
    o = m.decode(z)
    if gaussian:
        logp = Normal(o, m.log_scale.exp()).log_prob(x).flatten(1).sum(1)
    else:
        logp = Bernoulli(logits=o).log_prob(x).flatten(1).sum(1)
    kl = kl_divergence(Normal(mu, (0.5 * lv).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(1)
    neg_elbo = (-logp + kl).mean()
    neg_elbo.backward()
    out[name] = dict(state=state(m), x=t(x), x_shape=list(x.shape), eps=t(eps), mu=t(mu), logvar=t(lv), output=t(o),
                     log_likelihood=t(logp), kl=t(kl), neg_elbo=neg_elbo.item(),
                     grads={k: t(p.grad) for k, p in m.named_parameters()})

# --- 1-D latent: exact log p(x) by quadrature
m = Vae(1, 8, 1, 2, 8)
x = (torch.rand(4, 1, 8, 8) > 0.6).float()
with torch.no_grad():
    zs = torch.linspace(-10, 10, 20001)
    dz = (zs[1] - zs[0]).item()
    exact = []
    for i in range(len(x)):
        logits = torch.cat([m.decode(zc[:, None]) for zc in zs.split(2000)])
        logpx = Bernoulli(logits=logits).log_prob(x[i].expand_as(logits)).flatten(1).sum(1)
        logpz = Normal(0.0, 1.0).log_prob(zs)
        exact.append((torch.logsumexp(logpx + logpz, 0) + math.log(dz)).item())
    mu, lv = m.encode(x)
out["vae_1d"] = dict(state=state(m), x=t(x), x_shape=list(x.shape), exact_log_px=exact, mu=t(mu), logvar=t(lv))

# --- tiny ViT
class Vit(nn.Module):
    def __init__(self, s=8, p=4, c=1, classes=3, d=8, depth=2, heads=2, mlp=16):
        super().__init__()
        self.patch_embed = nn.Conv2d(c, d, p, stride=p)
        self.cls_token = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, (s // p) ** 2 + 1, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, heads, mlp, 0.0, activation="gelu", layer_norm_eps=1e-6, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, norm=nn.LayerNorm(d, eps=1e-6), enable_nested_tensor=False)
        self.head = nn.Linear(d, classes)

    def embed(self, x):
        p = self.patch_embed(x).flatten(2).transpose(1, 2)
        return torch.cat([self.cls_token.expand(len(x), -1, -1), p], 1) + self.pos_embed

    def forward(self, x):
        return self.head(self.encoder(self.embed(x))[:, 0])

    def attention(self, x):
        h, maps = self.embed(x), []
        for layer in self.encoder.layers:
            q = layer.norm1(h)
            a, w = layer.self_attn(q, q, q, need_weights=True, average_attn_weights=True)
            maps.append(w)
            h = layer(h)
        return maps


vit = Vit()
with torch.no_grad():   # make the class token and positions matter
    vit.cls_token.mul_(25)
    vit.pos_embed.mul_(25)
x = torch.randn(2, 1, 8, 8, requires_grad=True)
logits = vit(x)
g = torch.randn_like(logits)
logits.backward(g)
with torch.no_grad():
    maps = vit.attention(x)
    roll = None
    for w in maps:
        a = 0.5 * w + 0.5 * torch.eye(w.shape[-1])
        roll = a if roll is None else a @ roll
    rollout = roll[:, 0, 1:].reshape(2, 2, 2)
out["vit"] = dict(state=state(vit), x=t(x), x_shape=list(x.shape), logits=t(logits), grad_output=t(g), grad_x=t(x.grad),
                  grads={k: t(p.grad) for k, p in vit.named_parameters()}, attention=[t(w) for w in maps], rollout=t(rollout))

# --- WGAN-GP gradient penalties: second derivatives through the critic's ops (torch.autograd.grad, create_graph)
def penalty_case(critic, x):
    x = x.clone().requires_grad_(True)
    gx, = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    gp = ((gx.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
    gp.backward()
    return dict(state=state(critic), x=t(x), x_shape=list(x.shape), grad_x=t(gx), penalty=gp.item(),
                grads={k: (t(p.grad) if p.grad is not None else None) for k, p in critic.named_parameters()})


torch.set_default_dtype(torch.float64)
conv_critic = nn.Sequential(nn.Conv2d(2, 4, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(4, 6, 3, 1, 1, groups=2), nn.LeakyReLU(0.2),
                            nn.Conv2d(6, 4, 3, 2, 0, dilation=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 1 * 1, 1))
out["penalty_conv"] = penalty_case(conv_critic, torch.randn(3, 2, 8, 8))
for act in ("tanh", "sigmoid", "gelu", "gelu_tanh", "relu", "leaky_relu"):
    fn = dict(tanh=nn.Tanh(), sigmoid=nn.Sigmoid(), gelu=nn.GELU(), gelu_tanh=nn.GELU(approximate="tanh"), relu=nn.ReLU(),
              leaky_relu=nn.LeakyReLU(0.2))[act]
    mlp = nn.Sequential(nn.Linear(5, 7), fn, nn.Linear(7, 1))
    out["penalty_mlp_" + act] = penalty_case(mlp, torch.randn(4, 5))
torch.set_default_dtype(torch.float32)

# --- DDPM/DDIM: schedules and steps written from the papers' equations (Ho et al. 2020 eq. 4, 11 and the posterior
# variance; Nichol & Dhariwal 2021 eq. 17; Song et al. 2021 eq. 12), in float64
torch.set_default_dtype(torch.float64)
T = 50
lin = torch.linspace(1e-4, 0.02, T)
f = lambda t: math.cos((t / T + 0.008) / 1.008 * math.pi / 2) ** 2
cos = torch.tensor([min(1 - f(i + 1) / f(i), 0.999) for i in range(T)])
ab = torch.cumprod(1 - lin, 0)
x0, eps, z = torch.randn(3, 1, 4, 4), torch.randn(3, 1, 4, 4), torch.randn(3, 1, 4, 4)
ts = torch.tensor([0, 17, 49])
xt = ab[ts].sqrt().view(-1, 1, 1, 1) * x0 + (1 - ab[ts]).sqrt().view(-1, 1, 1, 1) * eps
step = 17
mean = (xt - lin[step] / (1 - ab[step]).sqrt() * eps) / (1 - lin[step]).sqrt()
var = lin[step] * (1 - ab[step - 1]) / (1 - ab[step])
ddpm = mean + var.sqrt() * z
tp, eta = 7, 0.5
x0_hat = (xt - (1 - ab[step]).sqrt() * eps) / ab[step].sqrt()
sigma = eta * ((1 - ab[tp]) / (1 - ab[step])).sqrt() * (1 - ab[step] / ab[tp]).sqrt()
ddim = ab[tp].sqrt() * x0_hat + (1 - ab[tp] - sigma ** 2).sqrt() * eps + sigma * z
half = 8
w = torch.exp(-math.log(10000) * torch.arange(half) / (half - 1))
tt = torch.tensor([0., 3., 999.])
sinus = torch.cat([torch.sin(tt[:, None] * w), torch.cos(tt[:, None] * w)], 1)
out["diffusion"] = dict(steps=T, linear=t(lin), cosine=t(cos), x0=t(x0), eps=t(eps), z=t(z), timesteps=ts.tolist(), xt=t(xt),
                        ddpm_t=step, ddpm=t(ddpm), ddim_t=step, ddim_prev=tp, ddim_eta=eta, ddim=t(ddim), sinusoid_times=t(tt), sinusoids=t(sinus))
torch.set_default_dtype(torch.float32)

# --- boxes: torchvision 0.14 (Debian python3-torchvision) box_convert, box_iou, generalized_box_iou, nms, batched_nms
import torchvision.ops as tvo
torch.manual_seed(11)
xy = torch.rand(40, 2) * 50
wh = torch.rand(40, 2) * 20 + 1
bx = torch.cat([xy, xy + wh], 1)
bx[5] = bx[3]                                  # an exact duplicate
sc = torch.rand(40)
sc[7] = sc[2]                                  # a tie
cls = torch.randint(0, 3, (40,))
bx2 = bx[:9] + torch.randn(9, 4)
bx2[:, 2:] = torch.maximum(bx2[:, 2:], bx2[:, :2] + 0.5)
out["boxes"] = dict(boxes=t(bx), scores=t(sc), classes=cls.tolist(), boxes2=t(bx2),
                    cxcywh=t(tvo.box_convert(bx, "xyxy", "cxcywh")), xywh=t(tvo.box_convert(bx, "xyxy", "xywh")),
                    iou=t(tvo.box_iou(bx[:9], bx2)), giou=t(tvo.generalized_box_iou(bx[:9], bx2)),
                    nms={str(th): tvo.nms(bx, sc, th).tolist() for th in (0.1, 0.3, 0.5, 0.7)},
                    batched_nms=tvo.batched_nms(bx, sc, cls, 0.3).tolist())

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "generative_reference.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", path)
