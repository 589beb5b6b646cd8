#!/usr/bin/env bash
# Data-parallel training on this machine (issue 23): `ember train` on the MNIST subset (MLP 784-512-256-10, batch 128,
# 4 epochs) as 1 process with 2 kernel threads and as `mpirun -np 2` with 1 thread per rank, alternating for ROUNDS
# rounds. Prints each run's median epoch time (epochs 2-4; the first includes JIT warm-up) and the data-parallel
# line (all-reduce wait per step). Usage: bench/ddp-train.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
dotnet build src/Ember.Cli -c Release -v quiet --nologo >/dev/null
cli=src/Ember.Cli/bin/Release/net10.0/Ember.Cli.dll
root=""; [ "$(id -u)" -ne 0 ] || root="--allow-run-as-root"
out="$(mktemp -d)"; trap 'rm -rf "$out"' EXIT
args=(train --data data/mnist-10k --epochs 4 --batch-size 128 --dropout 0 --quiet)
median_epoch() { tail -n +3 "$1" | cut -d, -f7 | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
grep -m1 "model name" /proc/cpuinfo
for r in $(seq "$rounds"); do
  EMBER_NUM_THREADS=2 dotnet "$cli" "${args[@]}" --out "$out/one" >/dev/null
  echo "round $r: 1 rank x 2 threads: epoch $(median_epoch "$out/one/metrics.csv") s"
  line=$(mpirun -np 2 $root --oversubscribe --mca btl_vader_single_copy_mechanism none -x EMBER_NUM_THREADS=1 \
    dotnet "$cli" "${args[@]}" --out "$out/two" 2>/dev/null | grep "data parallel")
  echo "round $r: 2 ranks x 1 thread: epoch $(median_epoch "$out/two/metrics.csv") s; $line"
done
