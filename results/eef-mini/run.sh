#!/usr/bin/env bash
# Plays the CPU-scale EEF comparison (issue 20) stage by stage: per seed, iteration 0 (SFT on the
# flawed expert's successes: the design gate), then EEF, RFT and RFT x6 from that checkpoint.
# Every stage resumes: after any stop, run this again and it continues with the unfinished one.
#   EXP=<dir>      where the experiment directories go (default: experiments)
#   SEEDS="0 1"    the seeds of the whole comparison (expert draws, training order, rollouts)
set -euo pipefail
cd "$(dirname "$0")/../.."
H=${HARNESS:-.venv/bin/harness}
EXP=${EXP:-experiments}
for s in ${SEEDS:-0 1}; do
  common=(-R "out_dir=$EXP" -R "seed=$s" -O "train.seed=$s")
  $H train configs/eef-mini/sft.yaml "${common[@]}" -R "name=eef-mini-s$s-sft"
  for m in eef rft rftx6; do
    $H train "configs/eef-mini/$m.yaml" "${common[@]}" -R "name=eef-mini-s$s-$m" \
      --base-experiment "$EXP/eef-mini-s$s-sft"
  done
done
