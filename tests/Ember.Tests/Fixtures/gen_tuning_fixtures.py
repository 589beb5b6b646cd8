"""Reference values for Ember.Tuning, from Debian's Python 3.11 with SciPy and Optuna 3.1 (python3-scipy,
python3-optuna): run with /usr/bin/python3 tests/Ember.Tests/Fixtures/gen_tuning_fixtures.py.

- Gaussian tails: math.erfc, scipy.special.ndtri, scipy.stats.truncnorm.logpdf.
- Optuna's univariate Parzen estimator (optuna.samplers._tpe.parzen_estimator._ParzenEstimator with the TPESampler
  defaults): for observation sets of each kind of distribution, its mixture weights, means, widths, and log densities
  at probe points.
- Optuna's TPESampler on Hartmann-6: the best value after each of 100 trials for seeds 0-9.
"""
import json
import math
import os

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator, _ParzenEstimatorParameters
from optuna.samplers._tpe.sampler import default_weights
from scipy.special import ndtri
from scipy.stats import truncnorm

optuna.logging.set_verbosity(optuna.logging.WARNING)
out = {}

out["erfc"] = [[x, math.erfc(x)] for x in [-4, -2.5, -1, -0.3, 0, 0.2, 0.7, 1.5, 3, 6, 10, 15, 25]]
out["ndtri"] = [[p, float(ndtri(p))] for p in [1e-15, 1e-8, 1e-3, 0.02, 0.2, 0.5, 0.7, 0.97, 0.999, 1 - 1e-9]]
out["truncnorm_logpdf"] = [
    [x, mu, s, lo, hi, float(truncnorm.logpdf(x, (lo - mu) / s, (hi - mu) / s, loc=mu, scale=s))]
    for (x, mu, s, lo, hi) in [(0.3, 0.5, 0.2, 0, 1), (0.99, 0.1, 0.05, 0, 1), (-2, 3, 0.5, -3, 4), (9.5, 2, 1, 0, 10), (0.0, 0.0, 1.0, -1, 1)]
]

params = _ParzenEstimatorParameters(
    consider_prior=True, prior_weight=1.0, consider_magic_clip=True, consider_endpoints=False,
    weights=default_weights, multivariate=False)
cases = []
rng = np.random.RandomState(3)
for kind, dist, obs in [
    ("float", FloatDistribution(-2.0, 3.0), [0.1, -1.5, 2.2, 0.15, 1.0]),
    ("float_log", FloatDistribution(1e-4, 1e-1, log=True), [1e-3, 3e-3, 5e-2, 2e-4]),
    ("float_step", FloatDistribution(0.0, 1.0, step=0.1), [0.2, 0.3, 0.9]),
    ("int", IntDistribution(1, 10), [2, 3, 3, 9]),
    ("int_log", IntDistribution(1, 1000, log=True), [4, 100, 700]),
    ("categorical", CategoricalDistribution(["a", "b", "c"]), [0, 2, 2, 2, 1]),
    ("float_many", FloatDistribution(0.0, 1.0), list(rng.rand(30))),
    ("float_empty", FloatDistribution(0.0, 1.0), []),
]:
    internal = np.asarray([dist.to_internal_repr(dist.to_external_repr(o)) if kind != "categorical" else o for o in obs], dtype=float)
    pe = _ParzenEstimator({"p": internal}, {"p": dist}, params)
    if kind == "categorical":
        probes = [0, 1, 2]
    elif kind.startswith("int"):
        probes = [1, 2, 5, 10] if kind == "int" else [1, 10, 999]
    elif kind == "float_log":
        probes = [1e-4, 1e-3, 0.02, 0.1]
    elif kind == "float_step":
        probes = [0.0, 0.3, 1.0]
    else:
        probes = [dist.low, 0.5 * (dist.low + dist.high), dist.high]
    logpdf = pe.log_pdf({"p": np.asarray(probes, dtype=int if kind == "categorical" else float)})
    case = {"kind": kind, "dist": json.loads(json.dumps(dist._asdict(), default=list)), "obs": internal.tolist(),
            "weights": pe._weights.tolist(), "probes": probes, "log_pdf": logpdf.tolist()}
    if kind != "categorical":
        case["mus"] = pe._mus["p"].tolist()
        case["sigmas"] = pe._sigmas["p"].tolist()
    else:
        case["categorical_weights"] = pe._categorical_weights["p"].tolist()
    cases.append(case)
out["parzen"] = cases

A = np.array([1.0, 1.2, 3.0, 3.2])
B = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                     [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])


def hartmann6(x):
    x = np.asarray(x)
    return float(-np.sum(A * np.exp(-np.sum(B * (x - P) ** 2, axis=1))))


out["hartmann6_optimum"] = hartmann6([0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573])
curves = []
for seed in range(10):
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(lambda t: hartmann6([t.suggest_float(f"x{i}", 0, 1) for i in range(6)]), n_trials=100)
    best, curve = math.inf, []
    for t in study.trials:
        best = min(best, t.value)
        curve.append(best)
    curves.append(curve)
out["optuna_tpe_hartmann6_best_curves"] = curves

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tuning", "tuning_reference.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print("wrote", path)
