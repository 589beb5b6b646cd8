#!/usr/bin/python3
"""Writes distributions_reference.json: log-densities, entropies, means, variances and KL divergences of the families
in Ember.Distributions, and the gamma-function family, computed by SciPy (Debian python3-scipy 1.10).

KL divergences: SciPy has no closed forms, so continuous 1-D pairs are integrated numerically (scipy.integrate.quad of
p·(ln p - ln q) over the support) and discrete pairs summed exactly. Dirichlet and multivariate-normal KL have no 1-D
integral: they are taken from PyTorch 1.13's torch.distributions.kl_divergence (an outside implementation), as is the
gradient of the Cholesky factor (torch.autograd); multivariate-normal densities and entropies from scipy.stats,
Cholesky factors from numpy.linalg.
Run:  /usr/bin/python3 tests/Ember.Tests/Fixtures/gen_distributions_fixtures.py
"""
import json, os
import numpy as np
from scipy import special, stats, integrate

out = {}

xs = [0.1, 0.5, 1.0, 1.5, 2.0, 2.5, 3.7, 10.0, 25.5, 171.3, -0.5, -1.5, -2.7, 1e-3]
out["special"] = {
    "x": xs,
    "lgamma": [float(special.gammaln(x)) for x in xs],
    "digamma": [float(special.digamma(x)) for x in xs],
    "trigamma": [float(special.polygamma(1, x)) for x in xs],
}

def entry(name, params, values, dist, logpdf):
    return {"name": name, "params": params, "values": values,
            "log_prob": [float(logpdf(v)) for v in values],
            "entropy": float(dist.entropy()), "mean": float(dist.mean()), "variance": float(dist.var())}

cases = []
for loc, scale in [(0.0, 1.0), (1.5, 0.3), (-2.0, 4.0)]:
    d = stats.norm(loc, scale)
    cases.append(entry("normal", [loc, scale], [-3.0, -0.2, 0.0, 1.1, 5.0], d, d.logpdf))
for lo, hi in [(0.0, 1.0), (-2.0, 3.5)]:
    d = stats.uniform(lo, hi - lo)
    cases.append(entry("uniform", [lo, hi], [lo, (lo + hi) / 2, hi - 1e-3], d, d.logpdf))
for a, rate in [(0.5, 1.0), (2.0, 3.0), (7.5, 0.4)]:
    d = stats.gamma(a, scale=1 / rate)
    cases.append(entry("gamma", [a, rate], [0.05, 0.7, 2.0, 9.0], d, d.logpdf))
for a, b in [(0.5, 0.5), (2.0, 5.0), (9.0, 1.5)]:
    d = stats.beta(a, b)
    e = entry("beta", [a, b], [0.02, 0.3, 0.5, 0.97], d, d.logpdf)
    # SciPy 1.10's beta.entropy integrates numerically (Beta(1/2, 1/2): -0.24156447524956, 2e-11 from the exact
    # ln(pi/4) = -0.24156447527049); the closed form through scipy.special is exact to rounding.
    e["entropy"] = float(special.betaln(a, b) - (a - 1) * special.psi(a) - (b - 1) * special.psi(b) + (a + b - 2) * special.psi(a + b))
    cases.append(e)
for p in [0.2, 0.5, 0.93]:
    d = stats.bernoulli(p)
    cases.append(entry("bernoulli", [p], [0.0, 1.0], d, d.logpmf))
for probs in [[0.1, 0.2, 0.7], [0.25, 0.25, 0.25, 0.25], [0.5, 0.0, 0.5]]:
    k = np.arange(len(probs))
    d = stats.rv_discrete(values=(k, probs))
    cases.append({"name": "categorical", "params": probs, "values": [float(i) for i in k if probs[i] > 0],
                  "log_prob": [float(np.log(probs[i])) for i in k if probs[i] > 0], "entropy": float(d.entropy())})
for alpha in [[1.0, 1.0, 1.0], [0.5, 2.0, 3.5], [4.0, 0.3]]:
    d = stats.dirichlet(alpha)
    vals = [[1 / len(alpha)] * len(alpha), list(np.random.default_rng(3).dirichlet(alpha))]
    cases.append({"name": "dirichlet", "params": alpha, "values": [list(map(float, v)) for v in vals],
                  "log_prob": [float(d.logpdf(np.array(v))) for v in vals], "entropy": float(d.entropy()),
                  "mean": list(map(float, d.mean())), "variance": list(map(float, d.var()))})
out["distributions"] = cases

def kl_quad(p, q, lo, hi):
    f = lambda x: p.pdf(x) * (p.logpdf(x) - q.logpdf(x)) if p.pdf(x) > 0 else 0.0
    v, err = integrate.quad(f, lo, hi, limit=400, epsabs=1e-13, epsrel=1e-12)
    return float(v)

kl = []
for (m1, s1), (m2, s2) in [((0.0, 1.0), (1.0, 2.0)), ((1.5, 0.3), (-0.5, 0.8))]:
    p, q = stats.norm(m1, s1), stats.norm(m2, s2)
    kl.append({"name": "normal", "p": [m1, s1], "q": [m2, s2], "kl": kl_quad(p, q, -np.inf, np.inf)})
for (a1, r1), (a2, r2) in [((2.0, 3.0), (1.5, 1.0)), ((7.5, 0.4), (5.0, 0.5))]:
    p, q = stats.gamma(a1, scale=1 / r1), stats.gamma(a2, scale=1 / r2)
    kl.append({"name": "gamma", "p": [a1, r1], "q": [a2, r2], "kl": kl_quad(p, q, 0, np.inf)})
for (a1, b1), (a2, b2) in [((2.0, 5.0), (3.0, 3.0)), ((9.0, 1.5), (2.0, 2.5))]:
    p, q = stats.beta(a1, b1), stats.beta(a2, b2)
    kl.append({"name": "beta", "p": [a1, b1], "q": [a2, b2], "kl": kl_quad(p, q, 0, 1)})
for (l1, h1), (l2, h2) in [((0.0, 1.0), (-1.0, 2.0))]:
    p, q = stats.uniform(l1, h1 - l1), stats.uniform(l2, h2 - l2)
    kl.append({"name": "uniform", "p": [l1, h1], "q": [l2, h2], "kl": kl_quad(p, q, l1, h1)})
for p1, p2 in [(0.2, 0.6), (0.93, 0.5)]:
    kl.append({"name": "bernoulli", "p": [p1], "q": [p2],
               "kl": float(p1 * np.log(p1 / p2) + (1 - p1) * np.log((1 - p1) / (1 - p2)))})
for pp, qq in [([0.1, 0.2, 0.7], [0.3, 0.3, 0.4]), ([0.5, 0.0, 0.5], [0.2, 0.5, 0.3])]:
    kl.append({"name": "categorical", "p": pp, "q": qq,
               "kl": float(sum(a * np.log(a / b) for a, b in zip(pp, qq) if a > 0))})
import torch
from torch.distributions import Dirichlet, kl_divergence
for a, b in [([0.5, 2.0, 3.5], [1.0, 1.0, 1.0]), ([4.0, 0.3], [2.0, 2.0])]:
    v = kl_divergence(Dirichlet(torch.tensor(a, dtype=torch.float64)), Dirichlet(torch.tensor(b, dtype=torch.float64)))
    kl.append({"name": "dirichlet", "p": a, "q": b, "kl": float(v), "reference": "torch 1.13 kl_divergence"})
mvn = []
rng = np.random.default_rng(11)
for k in [2, 3]:
    m = rng.normal(size=(k, k)); cov = m @ m.T + k * np.eye(k)
    m2 = rng.normal(size=(k, k)); cov2 = m2 @ m2.T + 0.5 * np.eye(k)
    loc, loc2 = rng.normal(size=k), rng.normal(size=k)
    d = stats.multivariate_normal(loc, cov)
    values = rng.normal(size=(3, k)) * 2
    from torch.distributions import MultivariateNormal as TMvn
    tkl = kl_divergence(TMvn(torch.tensor(loc), torch.tensor(cov)), TMvn(torch.tensor(loc2), torch.tensor(cov2)))
    # Gradient of sum(W * cholesky(A)) with respect to A (A symmetric), by PyTorch's autograd.
    A = torch.tensor(cov, requires_grad=True)
    W = torch.tensor(rng.normal(size=(k, k)))
    (torch.linalg.cholesky(A) * W).sum().backward()
    mvn.append({"loc": loc.tolist(), "cov": cov.flatten().tolist(), "k": k, "values": values.flatten().tolist(),
                "log_prob": [float(d.logpdf(v)) for v in values], "entropy": float(d.entropy()),
                "cholesky": np.linalg.cholesky(cov).flatten().tolist(),
                "loc2": loc2.tolist(), "cov2": cov2.flatten().tolist(), "kl": float(tkl),
                "w": W.flatten().tolist(), "cholesky_grad": A.grad.flatten().tolist()})
out["mvn"] = mvn
out["kl"] = kl

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "distributions_reference.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print("wrote", path)
