#!/usr/bin/env bash
# Runs every benchmark; pass --quick for the reduced mode CI uses. Each prints its ratios
# against a baseline measured in the same run, and a JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
for b in bench_env_step bench_alfworld_step bench_parallel bench_eef_cost bench_scaling bench_training bench_generation bench_rollout; do
  echo "### $b $*"
  "$PY" "bench/$b.py" "$@" 2>&1 | grep -v -e "^Loading weights" -e "Writing model shards" -e "FutureWarning" -e "warnings.warn"
done
