#!/usr/bin/env bash
# phasegen integrate and sample --weights end to end on tiny flows: the integral against the exact
# value, the JSON result, the baselines, weighted and unweighted event files read back, and bad input
# (one line, exit 2, no result file); Ctrl-C: exit 130, no file.
set -uo pipefail
: "${PHASEGEN:?set PHASEGEN to the phasegen executable}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

card() {  # card NAME DATA [MODEL LINES...]: a tiny flow card
  local name=$1 data=$2
  shift 2
  {
    echo "[model]"
    echo 'kind = "flow"'
    echo 'network = "mlp"'
    echo "hidden = 16"
    echo "layers = 2"
    echo "time_embedding = 8"
    echo "nfe = 8"
    printf '%s\n' "$@"
    echo "[train]"
    echo "data = \"$work/$data\""
    echo "batch = 128"
    echo "steps = 40"
    echo "lr = 3e-3"
    echo "validate_every = 20"
    echo "checkpoint_every = 20"
    echo "checkpoint = \"$work/$name.ckpt\""
    echo "seed = 4"
  } >"$work/$name.toml"
  "$PHASEGEN" train --card "$work/$name.toml" --workers 1 >/dev/null || fail "training $name"
}

"$PHASEGEN" data --target muon --events 3000 --out "$work/muon.pt" >/dev/null || fail "muon data"
"$PHASEGEN" data --target qqg --msq 1e-2 --events 3000 --out "$work/qqg.pt" >/dev/null || fail "qqg data"
card muon muon.pt 'prior = "rambo"' 'lift = "random"' 'coupling = "fibre"'
card dalitz qqg.pt 'prior = "dalitz"' 'cut = 1e-2'
card fixed muon.pt 'prior = "rambo"' 'lift = "fixed"' 'lift_scale = 0.15'

# The muon integral: within 4 standard errors of pi^2 / 192, the JSON written, the baselines printed.
"$PHASEGEN" integrate --checkpoint "$work/muon.ckpt" -t muon --events 4000 --seed 3 --workers 1 \
  --out "$work/muon.json" >"$work/muon.log" 2>"$work/muon.err" || fail "integrate muon: $(cat "$work/muon.err")"
cat "$work/muon.log"
grep -q "^  integral = .* GeV^5   (exact 0.051404" "$work/muon.log" || fail "no integral line with its unit and exact value"
awk '/^  integral = / { pull = $NF; sub(/\)$/, "", pull); if (pull + 0 > 4 || pull + 0 < -4) exit 1 }' "$work/muon.log" ||
  fail "muon integral more than 4 standard errors from the exact value"
grep -q "flat phase space" "$work/muon.log" || fail "no flat phase-space baseline"
grep -q "generator mapping" "$work/muon.log" || fail "no generator baseline"
grep -q "0 events with a step of non-positive Jacobian determinant" "$work/muon.log" || fail "non-positive Jacobians"
grep -q '"ess_per_event"' "$work/muon.json" || fail "JSON without the ESS"
grep -q '"exact": 0.0514042' "$work/muon.json" || fail "JSON without the exact value"
python3 -c "import json, sys; json.load(open(sys.argv[1]))" "$work/muon.json" 2>/dev/null ||
  { command -v python3 >/dev/null && fail "integrate's JSON does not parse"; }
# The same seed gives the same result.
"$PHASEGEN" integrate --checkpoint "$work/muon.ckpt" -t muon --events 4000 --seed 3 --workers 1 --out "$work/again.json" >/dev/null
cmp -s <(grep -v '"seconds"' "$work/muon.json") <(grep -v '"seconds"' "$work/again.json") || fail "same seed, different result"
# The Dalitz-plane flow on its own cut: the q qbar g integral.
"$PHASEGEN" integrate --checkpoint "$work/dalitz.ckpt" -t qqg --events 4000 --workers 1 >"$work/qqg.log" ||
  fail "integrate qqg"
cat "$work/qqg.log"
awk '/^  integral = / { pull = $NF; sub(/\)$/, "", pull); if (pull + 0 > 4 || pull + 0 < -4) exit 1 }' "$work/qqg.log" ||
  fail "qqg integral more than 4 standard errors from the exact value"

# Bad input: one line, exit 2, no result file.
failures=0
# expect_refusal COMMAND OUTPUT PATTERN ARGS...: `phasegen COMMAND ARGS... --events 20 --workers 1 --out OUTPUT`
# exits with 2, one stderr line containing PATTERN, and leaves no OUTPUT.
expect_refusal() {
  local command=$1 output=$2 pattern=$3 code lines
  shift 3
  "$PHASEGEN" "$command" "$@" --events 20 --workers 1 --out "$output" >/dev/null 2>"$work/err" </dev/null
  code=$?
  lines=$(wc -l <"$work/err")
  if [[ $code -ne 2 || $lines -ne 1 ]] || ! grep -qF -- "$pattern" "$work/err" || [[ -e "$output" ]]; then
    echo "FAIL: $command $* -> exit $code, $lines stderr line(s)"
    sed 's/^/    stderr: /' "$work/err"
    failures=$((failures + 1))
  else
    echo "ok:   $command $* -> $(cat "$work/err")"
  fi
  rm -f "$output"
}
expect_failure() { expect_refusal integrate "$work/bad.json" "$@"; }
expect_failure "unknown target 'higgs'" --checkpoint "$work/muon.ckpt" -t higgs
expect_failure "--target aps: the APS sets have no closed-form density" --checkpoint "$work/muon.ckpt" -t aps
expect_failure "--target uniform: N = 4, but the checkpoint's model makes N = 3 events" --checkpoint "$work/muon.ckpt" -t uniform -n 4
expect_failure "--sqrt-s 2 GeV: the checkpoint's model makes events at sqrt_s = 1 GeV" --checkpoint "$work/muon.ckpt" -t muon --sqrt-s 2
expect_failure "lift = fixed" --checkpoint "$work/fixed.ckpt" -t muon
expect_failure "--msq 0.001: the target has weight below s_ij/s = 0.01" --checkpoint "$work/dalitz.ckpt" -t qqg --msq 1e-3
expect_failure "the target has weight below s_ij/s = 0.01" --checkpoint "$work/dalitz.ckpt" -t muon
expect_failure "--msq: the q qbar g target needs its cut" --checkpoint "$work/muon.ckpt" -t qqg
expect_failure "--batch: expected a positive batch size" --checkpoint "$work/muon.ckpt" -t muon --batch 0
expect_failure "no such file" --checkpoint "$work/absent.ckpt" -t muon
# The Langevin model: no tractable density.
cat >"$work/langevin.toml" <<CARD
[model]
kind = "langevin"
network = "mlp"
hidden = 16
layers = 2
time_embedding = 8
divergence = "hutchinson"
[train]
data = "$work/muon.pt"
batch = 64
steps = 5
checkpoint = "$work/langevin.ckpt"
CARD
"$PHASEGEN" train --card "$work/langevin.toml" --workers 1 >/dev/null || fail "training a Langevin model"
expect_failure "kind = langevin: its sampler is a stochastic process" --checkpoint "$work/langevin.ckpt" -t muon
[[ $failures -eq 0 ]] || fail "$failures bad-input case(s)"

# sample --weights: weighted events in every format, the cross section in each; --unweight: unit weights.
"$PHASEGEN" sample --checkpoint "$work/muon.ckpt" --weights muon --events 3000 --seed 5 --workers 1 \
  --out "$work/w.lhe" --out "$work/w.hepmc3" --out "$work/w.pt" >"$work/weighted.log" || fail "sample --weights"
cat "$work/weighted.log"
awk '/cross section = / { v = $4; e = $6; if ((v - 0.0514041852) > 4 * e || (0.0514041852 - v) > 4 * e) exit 1 }' "$work/weighted.log" ||
  fail "weighted cross section more than 4 standard errors from the exact value"
for f in w.lhe w.hepmc3 w.pt; do
  "$PHASEGEN" inspect "$work/$f" >"$work/inspect.log" || fail "inspect $f"
  grep -q "weights             weighted ('muon')" "$work/inspect.log" || fail "$f: no weights read back"
  grep -q "cross section       0.05" "$work/inspect.log" || fail "$f: no cross section read back"
done
grep -q "    0    0    4    1" "$work/w.lhe" || fail "weighted LHE without IDWTUP 4"
# compare reads the weights: the weighted events judged with them, the floor at their effective size.
"$PHASEGEN" data --target muon --events 4000 --seed 9 --out "$work/truth.pt" >/dev/null || fail "truth set"
"$PHASEGEN" compare "$work/truth.pt" "$work/w.hepmc3" --floor --observables E_1,E_3 >"$work/compare.log" || fail "compare weighted"
cat "$work/compare.log"
grep -q "note: the samples are weighted: figures with their weights, the floor at their effective size" "$work/compare.log" ||
  fail "compare did not read the weights"
grep -q "GenCrossSection" "$work/w.hepmc3" || fail "weighted HepMC3 without GenCrossSection"
"$PHASEGEN" sample --checkpoint "$work/muon.ckpt" --weights muon --unweight --events 1000 --seed 5 --workers 1 \
  --out "$work/u.lhe" >"$work/unweighted.log" || fail "sample --unweight"
cat "$work/unweighted.log"
grep -q "unweighting         w_max of a first pass of 1000 events; accepted 1000 of" "$work/unweighted.log" || fail "no unweighting line"
grep -q "    0    0    3    1" "$work/u.lhe" || fail "unweighted LHE without IDWTUP 3"
"$PHASEGEN" inspect "$work/u.lhe" | grep -q "weights             unweighted" || fail "unweighted file not read back as such"
expect_sample_failure() { expect_refusal sample "$work/bad.lhe" "$@"; }
expect_sample_failure "--unweight needs --weights TARGET" --checkpoint "$work/muon.ckpt" --unweight
expect_sample_failure "--weights: checkpoint '$work/langevin.ckpt': kind = langevin" --checkpoint "$work/langevin.ckpt" --weights muon
expect_sample_failure "--weights aps: the APS sets have no closed-form density" --checkpoint "$work/muon.ckpt" --weights aps
expect_sample_failure "unknown target 'higgs'" --checkpoint "$work/muon.ckpt" --weights higgs
expect_sample_failure "--weights: trajectories are not kept" --checkpoint "$work/muon.ckpt" --weights muon \
  --trajectory-every 2 --trajectory-out "$work/t.pt"
expect_sample_failure "--weights uniform: N = 4" --checkpoint "$work/muon.ckpt" --weights uniform -n 4
[[ $failures -eq 0 ]] || fail "$failures bad-input case(s) of sample --weights"

# Ctrl-C during the run: exit 130, no result file.
"$PHASEGEN" integrate --checkpoint "$work/muon.ckpt" -t muon --events 2000000 --batch 2000 --workers 1 \
  --out "$work/stopped.json" >/dev/null 2>"$work/stopped.err" &
pid=$!
sleep 4
kill -INT "$pid"
wait "$pid"
code=$?
[[ $code -eq 130 ]] || fail "Ctrl-C: exit $code, expected 130 ($(cat "$work/stopped.err"))"
[[ ! -e "$work/stopped.json" ]] || fail "Ctrl-C left a result file"
grep -q "nothing was written" "$work/stopped.err" || fail "Ctrl-C message: $(cat "$work/stopped.err")"
echo "cli_integrate: all checks passed"
