#!/usr/bin/env bash
# Faults a long run meets: a full disk (/dev/full) under every kind of output, and kill -9 in the
# middle of training followed by --resume.
set -euo pipefail
: "${PHASEGEN:?set PHASEGEN to the phasegen executable}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$PHASEGEN" data --target muon --events 3000 --out "$work/muon.pt" >/dev/null
cat >"$work/tiny.toml" <<CARD
[model]
network = "mlp"
hidden = 16
layers = 2
time_embedding = 8
divergence = "hutchinson"
[train]
data = "$work/muon.pt"
batch = 64
steps = 40
checkpoint_every = 10
validate_every = 10
checkpoint = "$work/tiny.ckpt"
seed = 4
CARD
"$PHASEGEN" train --card "$work/tiny.toml" >/dev/null

# expect_full NAME COMMAND...: the command fails with one line naming the full file, and the
# directory of the outputs holds nothing new (no partial or temporary file).
mkdir "$work/full"
expect_full() {
  local name=$1
  shift
  if "$@" >/dev/null 2>"$work/err"; then fail "$name: writing to /dev/full succeeded"; fi
  [[ $(wc -l <"$work/err") -eq 1 ]] || fail "$name: expected one line, got: $(cat "$work/err")"
  grep -q "writing '$work/full/.*' failed: " "$work/err" || fail "$name: $(cat "$work/err")"
  local extra
  extra=$(find "$work/full" -mindepth 1 ! -type l)
  [[ -z $extra ]] || fail "$name: left $extra"
}
for ext in pt hepmc3 lhe; do ln -s /dev/full "$work/full/events.$ext"; done
ln -s /dev/full "$work/full/run.ckpt"
ln -s /dev/full "$work/full/trajectory.pt"
ln -s /dev/full "$work/full/eval.json"
for ext in pt hepmc3 lhe; do
  expect_full "data .$ext" "$PHASEGEN" data --target uniform --events 20000 --out "$work/full/events.$ext"
  expect_full "sample .$ext" "$PHASEGEN" sample --checkpoint "$work/tiny.ckpt" --events 2000 --out "$work/full/events.$ext"
done
expect_full "checkpoint" "$PHASEGEN" train --card "$work/tiny.toml" --steps 10 --checkpoint "$work/full/run.ckpt"
expect_full "trajectory" "$PHASEGEN" sample --checkpoint "$work/tiny.ckpt" --events 200 --out "$work/s.pt" \
  --trajectory-every 100 --trajectory-out "$work/full/trajectory.pt"
[[ -L $work/full/events.pt && $(readlink "$work/full/events.pt") == /dev/full ]] || fail "the link to /dev/full was replaced"

# kill -9 while training: the last checkpoint is whole, and --resume finishes the run.
"$PHASEGEN" train --card "$work/tiny.toml" --steps 100000 --checkpoint "$work/killed.ckpt" >"$work/killed.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  [[ -f $work/killed.ckpt ]] && break
  sleep 0.1
done
[[ -f $work/killed.ckpt ]] || { kill -9 "$pid"; fail "no checkpoint within a minute"; }
sleep 1
kill -9 "$pid"
wait "$pid" 2>/dev/null && fail "the killed run exited cleanly"
"$PHASEGEN" sample --checkpoint "$work/killed.ckpt" --events 10 --out "$work/k.pt" >"$work/k.log" 2>&1 ||
  fail "the checkpoint after kill -9 does not open: $(cat "$work/k.log")"
step=$(sed -n "s/.* from '.*' (step \([0-9]*\).*/\1/p" "$work/k.log")
[[ -n $step && $step -ge 10 ]] || fail "no step in: $(cat "$work/k.log")"
total=$((step + 30))
"$PHASEGEN" train --card "$work/tiny.toml" --steps "$total" --checkpoint "$work/killed.ckpt" --resume >"$work/resumed.log"
grep -q "resuming at step $step" "$work/resumed.log" || fail "resume did not start at step $step: $(cat "$work/resumed.log")"
grep -q "finished at step $total" "$work/resumed.log" || fail "the resumed run did not finish: $(cat "$work/resumed.log")"
echo "cli_faults: full disk refused cleanly for every output; killed at step >= $step, resumed to $total"
