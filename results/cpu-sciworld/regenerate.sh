#!/usr/bin/env bash
# Regenerates the published CPU-scale ScienceWorld tables from the kept run directories.
#   bash results/cpu-sciworld/regenerate.sh   (after `harness train configs/cpu-{rft,eef}-sciworld.yaml`,
#                                              with KEEP=1 to refresh the kept copies first)
set -euo pipefail
cd "$(dirname "$0")/../.."
H=${HARNESS:-harness}
OUT=results/cpu-sciworld
RUNS=$OUT/runs
if [ "${KEEP:-0}" = 1 ]; then  # keep what the tables read: evaluation runs, summaries, EEF decisions, loss logs
  rm -rf "$RUNS" && mkdir -p "$RUNS"
  for t in rft eef; do
    src=experiments/cpu-$t dst=$RUNS/$t
    mkdir -p "$dst"
    cp "$src"/{spec.yaml,meta.json,summary.json,progress.jsonl} "$dst"/
    for it in "$src"/iter*; do
      i=$(basename "$it")
      mkdir -p "$dst/$i/train"
      cp -r "$it/eval" "$dst/$i/" && rm -f "$dst/$i/eval/.lock"
      cp "$it"/train/{result.json,train_log.jsonl} "$dst/$i/train/"
      [ -f "$it/eef_log.jsonl" ] && cp "$it/eef_log.jsonl" "$dst/$i/"
    done
  done
fi
$H leaderboard $RUNS/rft $RUNS/eef --label $RUNS/rft/iter0/eval="SFT (iter0)" \
  --label $RUNS/rft/iter1/eval="RFT iter1" --label $RUNS/eef/iter0/eval="SFT (iter0, EEF run)" \
  --label $RUNS/eef/iter1/eval="EEF iter1" --format markdown -o $OUT/leaderboard.md
$H leaderboard $RUNS/rft $RUNS/eef --label $RUNS/rft/iter0/eval="SFT (iter0)" \
  --label $RUNS/rft/iter1/eval="RFT iter1" --label $RUNS/eef/iter0/eval="SFT (iter0, EEF run)" \
  --label $RUNS/eef/iter1/eval="EEF iter1" --format html -o $OUT/leaderboard.html
$H leaderboard $RUNS/rft/iter1/eval $RUNS/eef/iter1/eval --label $RUNS/rft/iter1/eval="RFT iter1" \
  --label $RUNS/eef/iter1/eval="EEF iter1" --vs "EEF iter1" "RFT iter1" --format markdown -o $OUT/head-to-head.md
