#!/usr/bin/env bash
# The --workers default, measured: phasegen train and sample on the CPU with 1 worker (one thread,
# OpenBLAS's own threads under its products) and with W workers (W threads on parts of each batch,
# single-threaded OpenBLAS each), alternately, ROUNDS times; prints the median rates side by side.
#
# usage: bench/workers.sh [W]   (W: default one per CPU)
#   Environment: PHASEGEN (build/apps/phasegen), ROUNDS (3), STEPS (300 training steps per run),
#   EVENTS (20000 sampled events per run; the Langevin model's 500 steps take a fifth of them).
#   Needs the demo's data (out/demo/muon-train.pt: make demo, or phasegen data --card cards/muon-langevin-cpu.toml)
#   and the APS set of cards/aps-n10-xi30.toml (or APS=FILE) for the transformer row (skipped when missing).
set -euo pipefail
phasegen=${PHASEGEN:-build/apps/phasegen}
workers=${1:-$(nproc)}
rounds=${ROUNDS:-3}
steps=${STEPS:-300}
events=${EVENTS:-20000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
muon=out/demo/muon-train.pt
aps=${APS:-$(sed -n 's/^out = "\(.*\)"/\1/p' cards/aps-n10-xi30.toml | head -1)}
[[ -f $muon ]] || { echo "workers: $muon is missing (make demo first)" >&2; exit 2; }

# train_rate CARD W [FLAGS...]: steps/s of a short run ("finished at step S in T s (R steps/s)").
train_rate() {
  local card=$1 w=$2
  shift 2
  "$phasegen" train --card "$card" --steps "$steps" --workers "$w" --checkpoint "$work/c.ckpt" "$@" 2>/dev/null | sed -n 's/.*finished at step .* (\([0-9.e+]*\) steps\/s).*/\1/p'
}
# sample_rate CHECKPOINT W N: events/s ("sampling  T s, R events/s, ...").
sample_rate() {
  "$phasegen" sample --checkpoint "$1" --workers "$2" --events "$3" --seed 5 --out "$work/s.pt" 2>/dev/null |
    awk '/^  sampling / { print $4 }'
}
median() { sort -g | awk '{ r[NR] = $1 } END { print r[int((NR + 1) / 2)] }'; }

echo "phasegen $(git describe --always --dirty 2>/dev/null || echo unknown), $(date -u +%F), $(nproc) CPUs," \
  "$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-unset}," \
  "median of $rounds alternating rounds"
echo
echo "| work | 1 worker | $workers workers | ratio |"
echo "|---|---|---|---|"
row() {  # row NAME FUNCTION ARG [FLAGS...]: FUNCTION ARG WORKERS [FLAGS...] with 1 and with W workers
  local name=$1 fn=$2 arg=$3
  shift 3
  local one=() many=()
  for ((i = 0; i < rounds; i++)); do
    one+=("$("$fn" "$arg" 1 "$@")")
    many+=("$("$fn" "$arg" "$workers" "$@")")
  done
  local a b
  a=$(printf '%s\n' "${one[@]}" | median)
  b=$(printf '%s\n' "${many[@]}" | median)
  echo "| $name | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b / a }') |"
}
row "train: muon Langevin (MLP, Hutchinson), steps/s" train_rate cards/muon-langevin-cpu.toml --data "$muon"
row "train: muon Langevin (MLP, exact divergence), steps/s" train_rate cards/muon-langevin-cpu.toml --data "$muon" --divergence exact
row "train: muon flow, OT coupling (MLP), steps/s" train_rate cards/muon-flow-ot-cpu.toml --data "$muon"
row "train: muon z-space VP (MLP), steps/s" train_rate cards/muon-vp-cpu.toml --data "$muon"
if [[ -n $aps && -f $aps ]]; then
  row "train: APS N = 10 flow (transformer), steps/s" train_rate cards/aps-n10-xi30-flow-rambo-cpu.toml --data "$aps"
fi
# Checkpoints to sample from: short runs of the two muon families.
"$phasegen" train --card cards/muon-flow-ot-cpu.toml --data "$muon" --steps 20 --checkpoint "$work/flow.ckpt" >/dev/null 2>&1
"$phasegen" train --card cards/muon-langevin-cpu.toml --data "$muon" --steps 20 --checkpoint "$work/langevin.ckpt" >/dev/null 2>&1
row "sample: muon flow, Heun 20 NFE, events/s" sample_rate "$work/flow.ckpt" "$events"
row "sample: muon Langevin, 500 steps, events/s" sample_rate "$work/langevin.ckpt" "$((events / 5))"
