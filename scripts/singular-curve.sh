#!/usr/bin/env bash
# A learning curve. By default the model of CARD is trained anew for each of several step budgets
# (each run its own cosine schedule, so each point is what that budget gives). With --snapshots, one
# run is trained to the largest budget and its checkpoint copied at each of the smaller ones (cheaper:
# one run; but before the end the learning rate is not yet annealed, so the early points are what the
# run had reached, not what a run of that budget would give). Every checkpoint is then judged by
# scripts/singular-spread.sh over independent sample sets beside the generator's floor.
#
# usage: scripts/singular-curve.sh [--snapshots] CARD TRUTH "DATA FLAGS" STEPS...
#   e.g.  scripts/singular-curve.sh cards/qqg-msq1e-3-cpu.toml runs/qqg-msq1e-3-test.pt "-t qqg --msq 1e-3" 2500 5000 10000 20000
#   With --snapshots every budget must be a multiple of the smallest. The card's training data must
#   exist (phasegen data --card CARD). Environment: PHASEGEN (build/apps/phasegen), WORK
#   (runs/curve-NAME), WORKERS (1), and those of singular-spread.sh.
set -euo pipefail
snapshots=0
if [[ ${1:-} == --snapshots ]]; then snapshots=1; shift; fi
[[ $# -ge 4 ]] || { sed -n '2,14p' "$0" >&2; exit 2; }
card=$1
truth=$2
target=$3
shift 3
phasegen=${PHASEGEN:-build/apps/phasegen}
name=$(basename "$card" .toml)
work=${WORK:-runs/curve-$name}
workers=${WORKERS:-1}
mkdir -p "$work"
checkpoints=()
labels=()
if (( snapshots )); then
  mapfile -t budgets < <(printf '%s\n' "$@" | sort -n)
  every=${budgets[0]}
  last=${budgets[-1]}
  for steps in "${budgets[@]}"; do
    (( steps % every == 0 )) || { echo "singular-curve.sh: $steps is not a multiple of $every" >&2; exit 2; }
  done
  # The card with checkpoints every `every` steps; each new checkpoint is copied under its step.
  sed -e "s/^checkpoint_every *=.*/checkpoint_every = $every/" "$card" > "$work/card.toml"
  grep -q '^checkpoint_every' "$work/card.toml" || sed -i "/^\[train\]/a checkpoint_every = $every" "$work/card.toml"
  running=$work/running.ckpt
  rm -f "$running"
  "$phasegen" train --card "$work/card.toml" --steps "$last" --checkpoint "$running" --workers "$workers" \
    > "$work/train-$last.log" 2>&1 &
  trainer=$!
  written=0
  stamp=
  copy_new() {
    local now
    now=$(stat -c %i.%y "$running" 2> /dev/null || true)  # each write renames a new file in
    [[ -n $now && $now != "$stamp" ]] || return 0
    stamp=$now
    written=$((written + 1))
    cp "$running" "$work/$((written * every)).ckpt"
  }
  while kill -0 "$trainer" 2> /dev/null; do copy_new; sleep 2; done
  wait "$trainer"
  copy_new
  grep -h 'finished at step' "$work/train-$last.log"
  for steps in "${budgets[@]}"; do
    [[ -f $work/$steps.ckpt ]] || { echo "singular-curve.sh: no checkpoint at step $steps" >&2; exit 1; }
  done
else
  for steps in "$@"; do
    "$phasegen" train --card "$card" --steps "$steps" --checkpoint "$work/$steps.ckpt" --workers "$workers" \
      > "$work/train-$steps.log" 2>&1
    grep -h 'finished at step' "$work/train-$steps.log"
  done
fi
for steps in $(printf '%s\n' "$@" | sort -n); do
  checkpoints+=("$work/$steps.ckpt,--workers,$workers")
  labels+=("steps-$steps")
done
WORK="$work/spread" LABELS="${labels[*]}" PHASEGEN="$phasegen" scripts/singular-spread.sh "$truth" "$target" "${checkpoints[@]}"
