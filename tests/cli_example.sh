#!/usr/bin/env bash
# The README's library example (examples/train_and_sample.cpp), built and run on a small card:
# it trains, samples exact events, judges them and reloads the checkpoint.
set -euo pipefail
: "${PHASEGEN:?set PHASEGEN to the phasegen executable}"
: "${EXAMPLE:?set EXAMPLE to the example executable}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$PHASEGEN" data --target muon --events 3000 --seed 1 --out "$work/train.pt" --test-out "$work/test.pt" --test-seed 2 \
  --test-events 2000 >/dev/null
cat >"$work/card.toml" <<CARD
[model]
kind = "langevin"
hidden = 32
layers = 2
time_embedding = 8
divergence = "hutchinson"
nfe = 50
[train]
batch = 256
steps = 40
validate_every = 20
seed = 7
CARD
"$EXAMPLE" "$work/card.toml" "$work/train.pt" "$work/test.pt" "$work/m.ckpt" >"$work/log"
cat "$work/log"
grep -q "^sampled 2000 events, worst conservation error [0-9.e-]*$" "$work/log" || fail "no sampled events"
awk '/worst conservation error/ { if ($NF > 1e-12) exit 1 }' "$work/log" || fail "sampled events do not conserve"
grep -q "^E_1 .*| " "$work/log" || fail "no distances beside their floors"
grep -q "^headline (example): Rosenblatt KS .*classifier AUC" "$work/log" || fail "no headline"
grep -q "^reloaded: q-space Langevin diffusion" "$work/log" || fail "the checkpoint did not load back"
[[ -f "$work/m.ckpt" ]] || fail "no checkpoint"
echo "1 passed, 0 failed"
