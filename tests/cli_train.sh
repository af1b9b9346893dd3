#!/usr/bin/env bash
# phasegen train and sample end to end on a tiny model: checkpoints, the resolved card, exact
# events at every written state, reproducible sampling, Ctrl-C and --resume.
set -euo pipefail
: "${PHASEGEN:?set PHASEGEN to the phasegen executable}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
check_exact() {  # check_exact SUMMARY_FILE: every "worst" figure <= 1e-12
  awk '/worst conservation|worst masslessness/ { if ($NF > 1e-12) bad = 1 } /worst violation over them/ { if ($NF > 1e-12) bad = 1 }
       END { exit bad }' "$1" || fail "round-off violation above 1e-12 in $1"
}

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
steps = 30
lr = 3e-3
ema = 0.9
validate_every = 10
checkpoint_every = 10
checkpoint = "$work/tiny.ckpt"
seed = 4
CARD
"$PHASEGEN" data --target muon --events 2000 --out "$work/muon.pt" >/dev/null
"$PHASEGEN" train --card "$work/tiny.toml" --dry-run >"$work/resolved"
grep -q '^hidden = 16$' "$work/resolved" || fail "resolved card"
grep -q '^\[train\]$' "$work/resolved" || fail "resolved card has no [train]"
"$PHASEGEN" train --card "$work/tiny.toml" >"$work/train.log"
cat "$work/train.log"
grep -q "finished at step 30" "$work/train.log" || fail "training did not finish"
grep -q "parameters" "$work/train.log" || fail "no parameter count"
[[ -f "$work/tiny.ckpt" ]] || fail "no checkpoint"

"$PHASEGEN" sample --checkpoint "$work/tiny.ckpt" --events 300 --seed 9 --out "$work/s.pt" --out "$work/s.hepmc3" \
  --trajectory-every 100 --trajectory-out "$work/traj.pt" --trajectory-events 40 >"$work/sample.log"
cat "$work/sample.log"
check_exact "$work/sample.log"
grep -q "6 states of 40 events every 100 steps" "$work/sample.log" || fail "trajectory states"
grep -q "300 events of N = 3" <("$PHASEGEN" inspect "$work/s.hepmc3") || fail "sampled file"
grep -q "checkpoint_step = 30" <("$PHASEGEN" inspect "$work/s.hepmc3") || fail "no provenance in the HepMC3 run info"
"$PHASEGEN" sample --checkpoint "$work/tiny.ckpt" --events 300 --seed 9 --out "$work/t.pt" >/dev/null
cmp -s "$work/s.pt" "$work/t.pt" || fail "same seed, different samples"
# Batches split over worker threads: reproducible for a seed and worker count, every event exact.
for copy in a b; do
  "$PHASEGEN" sample --checkpoint "$work/tiny.ckpt" --events 300 --seed 9 --workers 3 --batch 200 \
    --out "$work/w-$copy.pt" --out "$work/w-$copy.hepmc3" --trajectory-every 100 --trajectory-out "$work/wtraj.pt" \
    --trajectory-events 150 >"$work/workers.log"
done
# The kept states span the parts (67 + 67 + 16 of the first batch's 200 rows).
grep -q "6 states of 150 events every 100 steps" "$work/workers.log" || fail "trajectory across workers: $(cat "$work/workers.log")"
cmp -s "$work/w-a.pt" "$work/w-b.pt" || fail "same seed and workers, different samples"
grep -q "cpu, 3 workers" "$work/workers.log" || fail "the worker count is not reported"
grep -q "workers = 3" <("$PHASEGEN" inspect "$work/w-a.hepmc3") || fail "no worker count in the run information"
check_exact "$work/workers.log"
if "$PHASEGEN" sample --checkpoint "$work/tiny.ckpt" --workers -1 --out "$work/bad.pt" 2>"$work/err"; then
  fail "negative worker count accepted"
fi
grep -q "expected a worker count >= 0" "$work/err" || fail "negative worker count: $(cat "$work/err")"
[[ ! -e "$work/bad.pt" ]] || fail "a refused run left an output file"
# The paper's model with its fast samplers: strided Euler-Maruyama and the probability-flow ODE.
for sampler in em heun; do
  "$PHASEGEN" sample --checkpoint "$work/tiny.ckpt" --events 200 --sampler $sampler --nfe 9 --out "$work/l.pt" \
    --trajectory-every 1 --trajectory-out "$work/ltraj.pt" --trajectory-events 20 >"$work/lsample.log"
  check_exact "$work/lsample.log"
  grep -q ", 9 NFE" "$work/lsample.log" || fail "langevin $sampler: NFE"
  states=$([[ $sampler == heun ]] && echo 6 || echo 10)
  grep -q "$states states of 20 events" "$work/lsample.log" || fail "langevin $sampler: trajectory"
done
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  /usr/bin/python3 - "$work/traj.pt" <<'PY' || fail "trajectory file"
import sys, torch
d = torch.load(sys.argv[1])
steps, events = d["steps"], d["events"]
assert steps.tolist() == [500, 400, 300, 200, 100, 0], steps
assert events.shape == (6, 40, 3, 4) and events.dtype == torch.float64, events.shape
total = events.sum(2)
assert float((total[..., 0] - 1).abs().max()) < 1e-12 and float(total[..., 1:].abs().max()) < 1e-12
PY
fi

# Ctrl-C writes a checkpoint and exits with 130; --resume finishes the run.
sed -e 's/^steps = 30$/steps = 1000000/' -e "s|tiny.ckpt|long.ckpt|" "$work/tiny.toml" >"$work/long.toml"
"$PHASEGEN" train --card "$work/long.toml" >"$work/long.log" 2>"$work/long.err" &
pid=$!
for _ in $(seq 1 100); do [[ -f "$work/long.ckpt" ]] && break; sleep 0.2; done
sleep 1
kill -INT $pid
set +e
wait $pid
code=$?
set -e
[[ $code -eq 130 ]] || { cat "$work/long.err"; fail "interrupted training exited with $code"; }
grep -q "interrupted at step" "$work/long.err" || fail "no interrupt message"
step=$(sed -n 's/.*interrupted at step \([0-9]*\).*/\1/p' "$work/long.err")
"$PHASEGEN" train --card "$work/long.toml" --resume --steps $((step + 15)) >"$work/resume.log"
grep -q "resuming at step $step" "$work/resume.log" || fail "resume did not start at step $step"
grep -q "finished at step $((step + 15))" "$work/resume.log" || fail "resume did not finish"
# Flow matching with either prior: trains, samples with any solver, every ODE state exact.
for prior in rambo gaussian latent; do
  case $prior in rambo) coupling=fibre ;; gaussian) coupling=independent ;; latent) coupling=ot ;; esac
  printf '[model]\nkind = "flow"\nprior = "%s"\ncoupling = "%s"\nfeatures = "event"\nsolver = "heun"\nnfe = 10\nhidden = 16\nlayers = 2\ntime_embedding = 8\n[train]\ndata = "%s"\nbatch = 64\nsteps = 20\ncheckpoint = "%s"\n' \
    "$prior" "$coupling" "$work/muon.pt" "$work/flow-$prior.ckpt" >"$work/flow.toml"
  "$PHASEGEN" train --card "$work/flow.toml" --dry-run >"$work/resolved"
  ! grep -q '^schedule' "$work/resolved" || fail "Langevin settings in a flow card"
  "$PHASEGEN" train --card "$work/flow.toml" >"$work/flow.log" || fail "flow training with the $prior prior"
  "$PHASEGEN" sample --checkpoint "$work/flow-$prior.ckpt" --events 200 --solver rk4 --nfe 8 --out "$work/f.lhe" \
    --trajectory-every 1 --trajectory-out "$work/ftraj.pt" --trajectory-events 20 >"$work/fsample.log"
  check_exact "$work/fsample.log"
  grep -q "3 states of 20 events" "$work/fsample.log" || fail "flow trajectory ($prior)"
  grep -q "200 events of N = 3" <("$PHASEGEN" inspect "$work/f.lhe") || fail "flow samples ($prior)"
done
# The z-space VP diffusion: every sampler, every written state exact.
printf '[model]\nkind = "vp"\nhidden = 16\nlayers = 2\ntime_embedding = 8\n[train]\ndata = "%s"\nbatch = 64\nsteps = 20\ncheckpoint = "%s"\n' \
  "$work/muon.pt" "$work/vp.ckpt" >"$work/vp.toml"
"$PHASEGEN" train --card "$work/vp.toml" --dry-run >"$work/resolved"
grep -q "^sampler = 'dpmpp2m'$" "$work/resolved" || fail "vp default sampler"
grep -q "^schedule = 'linear'$" "$work/resolved" || fail "vp default schedule"
! grep -q '^divergence' "$work/resolved" || fail "Langevin settings in a vp card"
"$PHASEGEN" train --card "$work/vp.toml" >"$work/vp.log" || fail "vp training"
for sampler in ddpm ddim heun dpmpp2m; do
  "$PHASEGEN" sample --checkpoint "$work/vp.ckpt" --events 200 --sampler $sampler --nfe 7 --out "$work/v.pt" \
    --trajectory-every 1 --trajectory-out "$work/vtraj.pt" --trajectory-events 20 >"$work/vsample.log"
  check_exact "$work/vsample.log"
  states=$([[ $sampler == heun ]] && echo 5 || echo 8)
  grep -q "$states states of 20 events" "$work/vsample.log" || fail "vp trajectory ($sampler)"
done
# The p-space baselines train and sample, and compare measures their violation.
for kind in pflow pddpm; do
  printf '[model]\nkind = "%s"\nnfe = 50\nhidden = 16\nlayers = 2\ntime_embedding = 8\n[train]\ndata = "%s"\nbatch = 64\nsteps = 20\ncheckpoint = "%s"\n' \
    "$kind" "$work/muon.pt" "$work/$kind.ckpt" >"$work/$kind.toml"
  "$PHASEGEN" train --card "$work/$kind.toml" >"$work/$kind.log" || fail "$kind training"
  grep -q "does not conserve" "$work/$kind.log" || fail "$kind: no warning that it does not conserve"
  "$PHASEGEN" sample --checkpoint "$work/$kind.ckpt" --events 300 --out "$work/$kind.hepmc3" >"$work/$kind-sample.log"
  grep -q "p-space baseline" "$work/$kind-sample.log" || fail "$kind: sample does not say it is a baseline"
  "$PHASEGEN" compare "$work/muon.pt" "$work/$kind.hepmc3" >"$work/$kind-compare.log" || fail "$kind: compare"
  awk '$1 == "<|dE|>/E_med" { if ($2 > 1e-12 || $3 < 1e-4) bad = 1; found = 1 } END { exit bad || !found }' \
    "$work/$kind-compare.log" || fail "$kind: the Table I metric does not show the violation"
done
echo "1 passed, 0 failed"
