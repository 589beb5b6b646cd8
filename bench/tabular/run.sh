#!/usr/bin/env bash
# The tabular pipeline's cost on a 6,046-row table (bench/tabular/make_reviews6k.py): `ember tabular train` with its
# defaults (5-fold CV, every default model), `tabular explain` of one row and `tabular predict` of every row; wall
# time and peak RSS of each from GNU time. Run from the repository root on a quiet machine:
#   bash bench/tabular/run.sh [OUT_DIR]
set -euo pipefail
out=${1:-/tmp/ember-tabular-bench}
mkdir -p "$out"
dotnet build src/Ember.Cli -c Release -o "$out/cli" > /dev/null
/usr/bin/python3 bench/tabular/make_reviews6k.py "$out/reviews6k.csv" > /dev/null
measure() {
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$out/$name.time" "$@" > "$out/$name.log" 2> "$out/$name.err"
  read -r secs kb < "$out/$name.time"
  printf '%-8s wall %7.1f s   peak RSS %6.0f MB\n' "$name" "$secs" "$((kb / 1024))"
}
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) threads"
measure train   dotnet "$out/cli/Ember.Cli.dll" tabular train "$out/reviews6k.csv" --target label --out "$out/run"
measure explain dotnet "$out/cli/Ember.Cli.dll" tabular explain "$out/run/model.safetensors" "$out/reviews6k.csv" --row 3 --out "$out/explain"
measure predict dotnet "$out/cli/Ember.Cli.dll" tabular predict "$out/run/model.safetensors" "$out/reviews6k.csv" --out "$out/predictions.csv"
cat "$out/train.log"
