#!/usr/bin/env bash
# Regenerates the published tables of the CPU-scale EEF comparison from the kept run directories.
#   bash results/eef-mini/regenerate.sh            (tables from results/eef-mini/runs)
#   KEEP=1 EXP=<dir> bash results/eef-mini/regenerate.sh   (first refresh the kept copies from the
#                                                   experiments run.sh played in EXP, default experiments:
#                                                   the seeds whose comparison is complete; PARTIAL=1: all;
#                                                   the kept runs of seeds EXP does not hold stay)
#   OUT=<dir>      write the tables there instead (tests compare them with the published ones)
#   RUNS=<dir>     the kept runs (default results/eef-mini/runs)
# Rows: SFT (iteration 0, from the sft experiment), then each method's iterations; per seed, and
# pooled over seeds (--pool: a subtask's episodes of every seed in one row).
set -euo pipefail
cd "$(dirname "$0")/../.."
H=${HARNESS:-.venv/bin/harness}
RUNS=${RUNS:-results/eef-mini/runs}
OUT=${OUT:-results/eef-mini}
# a seed's experiments (run.sh's), in the tables' reading order; SFT first: the others start from its
# checkpoint, and complete() checks it apart (it has no iterations)
METHODS=(sft rft rftx6 eef)
declare -A NAME=([sft]=SFT [rft]=RFT [rftx6]=RFT×6 [eef]=EEF)
if [ "${KEEP:-0}" = 1 ]; then  # keep what the tables read: expert and evaluation runs, summaries, EEF decisions, logs
  EXP=${EXP:-experiments}
  complete() {  # every experiment of seed $1 has evaluated its last iteration: pooled rows then cover equal seeds
    [ -f "$EXP/eef-mini-s$1-sft/iter0/eval/summary.json" ] || return 1
    for m in "${METHODS[@]:1}"; do
      n=$(sed -n 's/^  iterations: \([0-9]*\)$/\1/p' "$EXP/eef-mini-s$1-$m/spec.yaml" 2>/dev/null)
      [ -n "$n" ] && grep -q '"complete": true' "$EXP/eef-mini-s$1-$m/iter$n/eval/summary.json" 2>/dev/null || return 1
    done
  }
  mkdir -p "$RUNS"
  for src in "$EXP"/eef-mini-s*-*; do
    seed=$(basename "$src" | sed 's/^eef-mini-s\([0-9]*\)-.*/\1/')
    if [ "${PARTIAL:-0}" != 1 ] && ! complete "$seed"; then
      echo "seed $seed: its comparison is not complete yet: not kept (PARTIAL=1 keeps it)" >&2 && continue
    fi
    dst=$RUNS/$(basename "$src" | sed 's/^eef-mini-//')
    rm -rf "$dst" && mkdir -p "$dst"  # a fresh copy of this experiment; other seeds' stay as kept
    for f in spec.yaml meta.json progress.jsonl summary.json; do [ -f "$src/$f" ] && cp "$src/$f" "$dst"/; done
    case $dst in *-sft) cp -r "$src/expert" "$dst"/ ;; esac
    for it in "$src"/iter*; do
      i=$(basename "$it")
      case $dst:$i in
        *-sft:*|*:iter[1-9]*) ;;
        *) mkdir -p "$dst/$i" && ln -s "../../$(basename "${dst%-*}")-sft/$i/eval" "$dst/$i/eval"; continue ;;
      esac  # a method's iteration 0 is the sft experiment's (copied by --base-experiment): a link to it
      [ -d "$it/eval" ] || continue
      mkdir -p "$dst/$i/train"
      cp -r "$it/eval" "$dst/$i/" && rm -f "$dst/$i/eval/.lock"
      for f in result.json train_log.jsonl; do [ -f "$it/train/$f" ] && cp "$it/train/$f" "$dst/$i/train/"; done
      for f in eef_log.jsonl; do [ -f "$it/$f" ] && cp "$it/$f" "$dst/$i/"; done
    done
  done
  find "$RUNS" -name .lock -delete
fi
evals=() per_seed=() pooled=() curves=() curve_labels=()
in_reading_order() {  # the evaluation runs: by METHODS, then by iteration, then by seed
  for run in $(find "$RUNS" -path '*/iter*/eval' -name eval); do
    exp=$(basename "$(dirname "$(dirname "$run")")") it=$(basename "$(dirname "$run")")
    rank=${#METHODS[@]}
    for i in "${!METHODS[@]}"; do [ "${METHODS[$i]}" = "${exp#*-}" ] && rank=$i; done
    echo "$rank ${it#iter} ${exp%%-*} $run"
  done | sort -k1,1n -k2,2n -k3,3V | cut -d' ' -f4
}
for run in $(in_reading_order); do
  exp=$(basename "$(dirname "$(dirname "$run")")")  # s<seed>-<method>
  it=$(basename "$(dirname "$run")")
  seed=${exp%%-*} method=${exp#*-}
  name=${NAME[$method]:-$method}
  if [ "$method" != sft ]; then  # the picture: each method's line from the SFT checkpoint on
    curves+=("$run") && curve_labels+=(--label "$run=$name $it")
  fi
  [ -L "$run" ] && continue  # in the tables, iteration 0 is the SFT row
  evals+=("$run")
  per_seed+=(--label "$run=$name $it $seed")
  pooled+=(--label "$run=$name $it")
done
experts=() expert_labels=()
for run in $(find "$RUNS" -path '*-sft/expert' -name expert | sort -V); do
  seed=$(basename "$(dirname "$run")") && seed=${seed%%-*}
  experts+=("$run") && expert_labels+=(--label "$run=flawed expert $seed")
done
$H leaderboard "${evals[@]}" "${per_seed[@]}" --format markdown -o $OUT/leaderboard-per-seed.md
$H leaderboard "${evals[@]}" "${pooled[@]}" --pool --format markdown -o $OUT/leaderboard.md
$H leaderboard "${evals[@]}" "${pooled[@]}" --pool --by difficulty --format markdown -o $OUT/leaderboard-difficulty.md
$H leaderboard "${evals[@]}" "${pooled[@]}" --pool --format html -o $OUT/leaderboard.html
if [ ${#curves[@]} -gt 0 ]; then
  $H leaderboard "${curves[@]}" "${curve_labels[@]}" --pool --format svg -o $OUT/solve-rate.svg
fi
$H leaderboard "${evals[@]}" "${pooled[@]}" --pool --actions --format markdown -o $OUT/actions.md
$H leaderboard "${experts[@]}" "${expert_labels[@]}" --by difficulty --format markdown -o $OUT/expert-pool.md
# Head-to-head of EEF against RFT x6 and RFT at the last iteration both have run: pooled over seeds
# (a subtask counts as solved if any seed's episode won), then per seed (paired on the same goals)
iters() { find "$RUNS" -path "*-$1/iter*/eval" -name eval | sed 's|.*/iter\([0-9]*\)/eval|\1|' | sort -u; }
seeds=$(find "$RUNS" -maxdepth 1 -name 's*-eef' | sed 's|.*/\(s[0-9]*\)-eef|\1|' | sort -V)
: > $OUT/head-to-head.md
for dir in rftx6 rft; do
  name=${NAME[$dir]}
  it=$(comm -12 <(iters eef) <(iters "$dir") | sort -n | tail -1)
  if [ -n "$it" ] && [ "$it" != 0 ]; then
    $H leaderboard "${evals[@]}" "${pooled[@]}" --pool --vs "EEF iter$it" "$name iter$it" \
      --format markdown >> $OUT/head-to-head.md
    echo >> $OUT/head-to-head.md
    for seed in $seeds; do
      a=$RUNS/$seed-eef/iter$it/eval b=$RUNS/$seed-$dir/iter$it/eval  # only the two compared runs
      [ -d "$a" ] && [ -d "$b" ] || continue
      $H leaderboard "$a" "$b" --label "$a=EEF iter$it $seed" --label "$b=$name iter$it $seed" \
        --vs "EEF iter$it $seed" "$name iter$it $seed" --format markdown >> $OUT/head-to-head.md
      echo >> $OUT/head-to-head.md
    done
  fi
done
# EEF's decisions per iteration, per seed
: > $OUT/eef-decisions.md
for exp in $(find "$RUNS" -maxdepth 1 -name '*-eef' | sort -V); do
  echo "## $(basename "$exp")" >> $OUT/eef-decisions.md
  $H show "$exp" --format markdown >> $OUT/eef-decisions.md
  echo >> $OUT/eef-decisions.md
done
