#!/usr/bin/env bash
# Training and sampling throughput of the phasegen CLI on one device, end to end (data on the device,
# progress, validation and checkpoints included): prints one Markdown row per job with its rate and
# the peak GPU memory seen by nvidia-smi (where there is one).
#
# usage: bench/device-figures.sh DEVICE        (DEVICE: cpu, cuda or auto)
#   Environment: PHASEGEN (default build/apps/phasegen), WORK (runs/device-figures),
#   STEPS (training steps per job, 2000), EVENTS (sampled events per job, 100000), BATCH (events sampled
#   together, 100000).
# The muon and APS training sets come from cards/muon-langevin-cpu.toml and
# cards/aps-n10-xi30-flow-rambo-cpu.toml (generated where missing).
set -euo pipefail
[[ $# -eq 1 ]] || { sed -n '2,11p' "$0" >&2; exit 2; }
device=$1
phasegen=${PHASEGEN:-build/apps/phasegen}
work=${WORK:-runs/device-figures}
steps=${STEPS:-2000}
events=${EVENTS:-100000}
batch=${BATCH:-100000}
mkdir -p "$work"
for card in cards/muon-langevin-cpu.toml cards/aps-n10-xi30-flow-rambo-cpu.toml; do
  out=$(sed -n 's/^out *= *"\(.*\)"$/\1/p' "$card")
  [[ -f $out ]] || { mkdir -p "$(dirname "$out")"; "$phasegen" data --card "$card" >/dev/null; }
done

# Runs a command (its output to LOG) while polling the GPU's memory; prints the peak in MiB ("-" without
# nvidia-smi).
peak_memory() {
  local log=$1
  shift
  if ! command -v nvidia-smi >/dev/null; then
    "$@" >"$log" 2>&1
    echo "-"
    return
  fi
  : >"$work/memory.log"
  (while true; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits >>"$work/memory.log"; sleep 0.2; done) &
  local poller=$!
  "$@" >"$log" 2>&1 || { kill "$poller"; echo "failed: $* (see $log)" >&2; exit 1; }
  kill "$poller"
  sort -n "$work/memory.log" | tail -1
}

echo "| job | device | rate | peak GPU memory [MiB] |"
echo "|---|---|---|---|"
# tag | what | card | extra train flags
trainings=(
  "langevin|muon Langevin, Hutchinson (MLP 4 x 256, batch 1024)|cards/muon-langevin-cpu.toml|"
  "langevin-exact|muon Langevin, exact divergence|cards/muon-langevin-cpu.toml|--divergence exact"
  "flow-ot|muon flow, OT coupling|cards/muon-flow-ot-cpu.toml|"
  "flow-fibre|muon flow, fibre coupling|cards/muon-flow-rambo-cpu.toml|"
  "aps-flow|APS N = 10 flow (transformer d = 64, batch 1024)|cards/aps-n10-xi30-flow-rambo-cpu.toml|--batch 1024"
)
for entry in "${trainings[@]}"; do
  IFS='|' read -r tag name card extra <<<"$entry"
  # shellcheck disable=SC2086
  memory=$(peak_memory "$work/$tag.train.log" "$phasegen" train --card "$card" --steps "$steps" --device "$device" \
    $extra --checkpoint "$work/$tag.ckpt")
  rate=$(sed -n 's/^  finished at step .* (\(.*\) steps\/s)$/\1/p' "$work/$tag.train.log")
  echo "| train: $name | $device | $rate steps/s | $memory |"
done

# tag | what | checkpoint tag | sample flags
samplings=(
  "langevin-500|muon Langevin, 500 steps|langevin|"
  "langevin-50|muon Langevin, strided EM 50 NFE|langevin|--nfe 50"
  "flow-50|muon flow, Heun 50 NFE|flow-ot|--nfe 50"
  "flow-20|muon flow, Heun 20 NFE|flow-ot|--nfe 20"
  "aps-20|APS flow, Heun 20 NFE|aps-flow|--nfe 20"
)
for entry in "${samplings[@]}"; do
  IFS='|' read -r tag name checkpoint extra <<<"$entry"
  # shellcheck disable=SC2086
  memory=$(peak_memory "$work/$tag.sample.log" "$phasegen" sample --checkpoint "$work/$checkpoint.ckpt" \
    --events "$events" --batch "$batch" --device "$device" $extra --out "$work/$tag.pt")
  rate=$(awk '/^  sampling / { print $4 }' "$work/$tag.sample.log")
  worst=$(sed -n 's/^  worst conservation .* = \(.*\)$/\1/p' "$work/$tag.sample.log")
  echo "| sample $events: $name | $device | $rate events/s (worst conservation $worst) | $memory |"
done
