#!/usr/bin/env bash
# The paper's Table I on APS (N = 10, xi_max = 30) for every model family: trains each for a short
# CPU-sized run on the same small MLP, samples it, and prints a Markdown table of the conservation
# metric (mean |sum E - sqrt_s| / E_med and |sum p_k| / E_med) and the worst violation per event.
# Conservation does not depend on how well a model is trained; the q- and z-space models are exact
# by construction, the p-space baselines are not.
#
# usage: scripts/aps-conservation.sh TRAIN.pt TRUTH.pt [STEPS]
#   Environment: PHASEGEN (default build/apps/phasegen), EVENTS (10000), WORK (runs/aps-conservation).
set -euo pipefail
[[ $# -ge 2 ]] || { sed -n '2,10p' "$0" >&2; exit 2; }
train=$1 truth=$2 steps=${3:-1000}
phasegen=${PHASEGEN:-build/apps/phasegen}
events=${EVENTS:-10000}
work=${WORK:-runs/aps-conservation}
mkdir -p "$work"
models=(
  "langevin|kind = \"langevin\"\ndivergence = \"hutchinson\""
  "flow-rambo|kind = \"flow\"\nprior = \"rambo\""
  "flow-gaussian|kind = \"flow\"\nprior = \"gaussian\""
  "flow-latent|kind = \"flow\"\nprior = \"latent\""
  "vp|kind = \"vp\""
  "pflow|kind = \"pflow\""
  "pddpm|kind = \"pddpm\""
)
echo "| model | space | sampler | <dE>/E_med | <dpx>/E_med | <dpy>/E_med | <dpz>/E_med | worst dP/sqrt_s |"
echo "|---|---|---|---|---|---|---|---|"
for entry in "${models[@]}"; do
  name=${entry%%|*}
  printf '[model]\n%b\nnetwork = "mlp"\nhidden = 128\nlayers = 3\ntime_embedding = 32\n[train]\ndata = "%s"\nbatch = 256\nsteps = %s\nlr = 1e-3\nwarmup = 50\nvalidate_every = %s\ncheckpoint_every = %s\ncheckpoint = "%s"\nseed = 1\n' \
    "${entry#*|}" "$train" "$steps" "$steps" "$steps" "$work/$name.ckpt" >"$work/$name.toml"
  "$phasegen" train --card "$work/$name.toml" >"$work/$name.train.log"
  "$phasegen" sample --checkpoint "$work/$name.ckpt" --events "$events" --seed 3 --out "$work/$name.pt" >"$work/$name.sample.log"
  "$phasegen" compare "$truth" "$work/$name.pt" --observables E_1 >"$work/$name.compare"
  space=$(sed -n 's/^  model  *\(.*\)$/\1/p' "$work/$name.sample.log" | grep -o 'q-space\|Gaussianised z-space\|p-space' | head -1)
  sampler=$(sed -n 's/^  sampling .* events\/s, \(.*\)$/\1/p' "$work/$name.sample.log")
  awk -v name="$name" -v space="$space" -v sampler="$sampler" '
    $1 == "worst" && $2 == "|dP|/rs" { worst = $4 }
    $1 == "<|dE|>/E_med" { e = $3 } $1 == "<|dpx|>/E_med" { x = $3 } $1 == "<|dpy|>/E_med" { y = $3 }
    $1 == "<|dpz|>/E_med" { z = $3 }
    END { printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", name, space, sampler, e, x, y, z, worst }
  ' "$work/$name.compare"
done
awk '$1 == "<|dE|>/E_med" { e = $2 } $1 == "<|dpx|>/E_med" { x = $2 } $1 == "<|dpy|>/E_med" { y = $2 }
     $1 == "<|dpz|>/E_med" { z = $2 } $1 == "worst" && $2 == "|dP|/rs" { worst = $3 }
     END { printf "| truth (APS generator) | | | %s | %s | %s | %s | %s |\n", e, x, y, z, worst }' "$work/pddpm.compare"
