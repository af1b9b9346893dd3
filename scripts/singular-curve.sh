#!/usr/bin/env bash
# A learning curve: the model of CARD trained anew for each of several step budgets (each run its
# own cosine schedule, so each point is what that budget gives), then every checkpoint judged by
# scripts/singular-spread.sh over independent sample sets beside the generator's floor.
#
# usage: scripts/singular-curve.sh CARD TRUTH "DATA FLAGS" STEPS...
#   e.g.  scripts/singular-curve.sh cards/qqg-msq1e-3-cpu.toml runs/qqg-msq1e-3-test.pt "-t qqg --msq 1e-3" 2500 5000 10000 20000
#   The card's training data must exist (phasegen data --card CARD). Environment: PHASEGEN
#   (build/apps/phasegen), WORK (runs/curve-NAME), WORKERS (1), and those of singular-spread.sh.
set -euo pipefail
[[ $# -ge 4 ]] || { sed -n '2,10p' "$0" >&2; exit 2; }
card=$1
truth=$2
target=$3
shift 3
phasegen=${PHASEGEN:-build/apps/phasegen}
name=$(basename "$card" .toml)
work=${WORK:-runs/curve-$name}
mkdir -p "$work"
checkpoints=()
labels=()
for steps in "$@"; do
  "$phasegen" train --card "$card" --steps "$steps" --checkpoint "$work/$steps.ckpt" --workers "${WORKERS:-1}" \
    > "$work/train-$steps.log" 2>&1
  grep -h 'finished at step' "$work/train-$steps.log"
  checkpoints+=("$work/$steps.ckpt,--workers,${WORKERS:-1}")
  labels+=("steps-$steps")
done
WORK="$work/spread" LABELS="${labels[*]}" PHASEGEN="$phasegen" scripts/singular-spread.sh "$truth" "$target" "${checkpoints[@]}"
