#!/usr/bin/env bash
# Data-parallel training on one machine, measured: phasegen train as one process of batch 2B with 2
# workers against two processes (Gloo on 127.0.0.1) of batch B with one worker each, the same
# model either way (tests/test_distributed.cpp), alternately ROUNDS times; prints the median
# steps/s side by side and says whether the two runs' losses agree.
#
# usage: bench/processes.sh
#   Environment: PHASEGEN (build/apps/phasegen), ROUNDS (3), STEPS (300), BATCH (512 per process).
#   Needs the demo's data (out/demo/muon-train.pt: make demo, or phasegen data --card cards/muon-langevin-cpu.toml).
set -euo pipefail
phasegen=${PHASEGEN:-build/apps/phasegen}
rounds=${ROUNDS:-3}
steps=${STEPS:-300}
batch=${BATCH:-512}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
muon=out/demo/muon-train.pt
[[ -f $muon ]] || { echo "processes: $muon is missing (make demo first)" >&2; exit 2; }
# Rendezvous ports below Linux's ephemeral range (32768-60999), where the processes' own
# connections (and those of earlier runs, in TIME_WAIT) take theirs.
port=$((20000 + RANDOM % 12000))

rate() { sed -n 's/.*finished at step .* (\([0-9.e+]*\) steps\/s).*/\1/p' "$1"; }
loss() { sed -n 's/.*last loss *\([^,]*\),.*/\1/p' "$1"; }
# one CARD [FLAGS...] / two CARD [FLAGS...]: a run, its output in $work/one.out or $work/two.out.
one() {
  local card=$1
  shift
  "$phasegen" train --card "$card" --data "$muon" --steps "$steps" --batch $((2 * batch)) --workers 2 \
    --checkpoint "$work/one.ckpt" "$@" >"$work/one.out" 2>/dev/null
}
two() {
  local card=$1 rank pids=()
  shift
  port=$((port + 1))
  for rank in 0 1; do
    RANK=$rank WORLD_SIZE=2 LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
      "$phasegen" train --card "$card" --data "$muon" --steps "$steps" --batch "$batch" --workers 1 \
      --checkpoint "$work/two.ckpt" "$@" >"$work/two-$rank.out" 2>/dev/null &
    pids+=($!)
  done
  wait "${pids[@]}"
  cp "$work/two-0.out" "$work/two.out"
}
median() { sort -g | awk '{ r[NR] = $1 } END { print r[int((NR + 1) / 2)] }'; }

echo "phasegen $(git describe --always --dirty 2>/dev/null || echo unknown), $(date -u +%F), $(nproc) CPUs," \
  "$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), median of $rounds alternating rounds, $steps steps"
echo
echo "| training (steps/s) | 1 process, batch $((2 * batch)), 2 workers | 2 processes, batch $batch each | ratio | same last loss |"
echo "|---|---|---|---|---|"
row() {  # row NAME CARD [FLAGS...]
  local name=$1 card=$2
  shift 2
  local a=() b=()
  for ((i = 0; i < rounds; i++)); do
    one "$card" "$@"
    a+=("$(rate "$work/one.out")")
    two "$card" "$@"
    b+=("$(rate "$work/two.out")")
  done
  local same=no
  [[ $(loss "$work/one.out") == "$(loss "$work/two.out")" ]] && same=yes
  local x y
  x=$(printf '%s\n' "${a[@]}" | median)
  y=$(printf '%s\n' "${b[@]}" | median)
  echo "| $name | $x | $y | $(awk -v a="$x" -v b="$y" 'BEGIN { printf "%.2f", b / a }') | $same |"
}
row "muon Langevin (MLP, Hutchinson)" cards/muon-langevin-cpu.toml
row "muon flow, OT coupling (MLP)" cards/muon-flow-ot-cpu.toml
row "muon z-space VP (MLP)" cards/muon-vp-cpu.toml
