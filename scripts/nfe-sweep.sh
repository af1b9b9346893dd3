#!/usr/bin/env bash
# Quality against cost for a trained muon-decay model: samples at several NFE budgets and prints one
# Markdown row per budget with the Rosenblatt KS distances (u1, u2) and the W1 of the three
# energies against a truth file, and the sampling speed.
#
# usage: scripts/nfe-sweep.sh TRUTH CHECKPOINT SAMPLER-FLAG SAMPLER NFE...
#   SAMPLER-FLAG is --solver (flow models: euler, heun, rk4) or --sampler (vp: ddpm, ddim, heun, dpmpp2m).
#   Environment: PHASEGEN (default build/apps/phasegen), EVENTS (20000), SEED (3), WORK (runs/sweep).
# Example: scripts/nfe-sweep.sh out/demo/muon-test.pt runs/muon-vp.ckpt --sampler dpmpp2m 5 10 20 50
set -euo pipefail
[[ $# -ge 5 ]] || { sed -n '2,9p' "$0" >&2; exit 2; }
truth=$1 checkpoint=$2 flag=$3 sampler=$4
shift 4
phasegen=${PHASEGEN:-build/apps/phasegen}
events=${EVENTS:-20000}
seed=${SEED:-3}
work=${WORK:-runs/sweep}
mkdir -p "$work"
name=$(basename "$checkpoint" .ckpt)
for nfe in "$@"; do
  out="$work/$name-$sampler-$nfe.pt"
  "$phasegen" sample --checkpoint "$checkpoint" --events "$events" --seed "$seed" "$flag" "$sampler" --nfe "$nfe" \
    --out "$out" >"$work/$name-$sampler-$nfe.log"
  # "  sampling            12.3 s, 1620 events/s, heun, 19 NFE"
  speed=$(awk '/^  sampling / { print $4 }' "$work/$name-$sampler-$nfe.log")
  used=$(sed -n 's/^  sampling .*, \([0-9]*\) NFE.*/\1/p' "$work/$name-$sampler-$nfe.log")
  "$phasegen" compare "$truth" "$out" --observables E_1,E_2,E_3,u1,u2 >"$work/$name-$sampler-$nfe.compare"
  awk -v name="$name" -v sampler="$sampler" -v nfe="$used" -v speed="$speed" '
    $1 == "E_1" { w1 = $3 } $1 == "E_2" { w2 = $3 } $1 == "E_3" { w3 = $3 }
    $1 == "u1" { k1 = $3 } $1 == "u2" { k2 = $3 }
    END { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name, sampler, nfe, k1, k2, w1, w2, w3, speed }
  ' "$work/$name-$sampler-$nfe.compare"
done
