"""Optuna 3.1's TPE (Debian python3-optuna) on Ember's tabular objective, for `Ember.Bench tune` (issue 23).

The objective is Ember's own: this script starts `Ember.Bench tune-tabular-serve CSV` and sends it each trial's
setting as a JSON line (lr, width, dropout, weight_decay: the space of Ember.Recipes.Tabular.TabularTuning); it
answers the validation RMSE of the MLP trained with it. Both samplers therefore see identical values.
Usage: /usr/bin/python3 bench/reference/optuna_tabular.py [CSV] [SEEDS] [TRIALS] > bench/reference/optuna_tabular.json
"""
import json
import math
import subprocess
import sys

import optuna

csv = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/chicago-ridership/chicago.csv.gz"
seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
trials = int(sys.argv[3]) if len(sys.argv) > 3 else 20
optuna.logging.set_verbosity(optuna.logging.WARNING)
server = subprocess.Popen(["dotnet", "bench/Ember.Bench/bin/Release/net10.0/Ember.Bench.dll", "tune-tabular-serve", csv],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
assert server.stdout.readline().strip() == "ready"


def objective(trial):
    setting = {
        "lr": trial.suggest_float("lr", 1e-4, 3e-2, log=True),
        "width": trial.suggest_int("width", 16, 256, log=True),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-1, log=True),
    }
    server.stdin.write(json.dumps(setting) + "\n")
    server.stdin.flush()
    return float(server.stdout.readline())


curves = []
for seed in range(seeds):
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    best, curve = math.inf, []
    for t in study.trials:
        best = min(best, t.value)
        curve.append(best)
    curves.append(curve)
    print(f"seed {seed}: best {best:.5f}", file=sys.stderr)
server.stdin.close()
server.wait()
json.dump({"csv": csv, "trials": trials, "best_curves": curves}, sys.stdout)
