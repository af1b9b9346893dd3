#!/usr/bin/env bash
# phasegen eval end to end: a table, eval.json beside it, the floors, a classifier that tells flat
# phase space from muon decay but not muon decay from itself, and the same figures on a re-run.
set -euo pipefail
: "${PHASEGEN:?set PHASEGEN to the phasegen executable}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# The figures need gnuplot (scripts/install-deps.sh installs it); without it the test says so and is skipped.
command -v gnuplot >/dev/null || { echo "SKIP: gnuplot not found"; exit 77; }

"$PHASEGEN" data --target muon --events 8000 --seed 1 --out "$work/truth.pt" >/dev/null
"$PHASEGEN" data --target muon --events 3000 --seed 2 --out "$work/muon.pt" >/dev/null
"$PHASEGEN" phasespace --particles 3 --sqrt-s 1 --events 3000 --seed 3 --out "$work/flat.pt" >/dev/null
"$PHASEGEN" eval --truth "$work/truth.pt" --samples "$work/muon.pt" --samples "$work/flat.pt" --label muon --label flat \
  --classifier-steps 300 --out "$work/eval" >"$work/eval.log" 2>"$work/eval.err"
cat "$work/eval.log"
[[ -s "$work/eval/eval.json" ]] || fail "no eval.json"
grep -q "^headline (muon): Rosenblatt KS" "$work/eval.log" || fail "no headline"
grep -q "^classifier AUC .*| floor:" "$work/eval.log" || fail "no classifier line with its floor"
# Figures: a PNG and its gnuplot script for each, listed in eval.json; none with --no-plots.
for name in hist_E_1 hist_u1 hist_u2 hist_log10_tau_s dalitz; do
  [[ -s "$work/eval/plots/$name.gp" ]] || fail "no $name.gp"
  [[ $(head -c 8 "$work/eval/plots/$name.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || fail "$name.png is not a PNG"
  grep -q "\"plots/$name.png\"" "$work/eval/eval.json" || fail "$name.png not listed in eval.json"
done
[[ -z $(find "$work/eval" -name '.*') ]] || fail "temporary files left: $(find "$work/eval" -name '.*')"
"$PHASEGEN" eval --truth "$work/truth.pt" --samples "$work/muon.pt" --classifier-steps 20 --no-plots --out "$work/bare" >/dev/null 2>&1
[[ ! -e "$work/bare/plots" ]] || fail "--no-plots drew figures"
# The loss curves of a checkpoint and the sampling path of a trajectory.
printf '[model]\nhidden = 16\nlayers = 2\ntime_embedding = 8\n[train]\ndata = "%s"\nbatch = 64\nsteps = 40\nvalidate_every = 10\ncheckpoint = "%s"\n' \
  "$work/truth.pt" "$work/tiny.ckpt" >"$work/tiny.toml"
"$PHASEGEN" train --card "$work/tiny.toml" >/dev/null
"$PHASEGEN" sample --checkpoint "$work/tiny.ckpt" --events 100 --nfe 20 --out "$work/s.pt" --trajectory-every 5 \
  --trajectory-out "$work/traj.pt" >/dev/null
"$PHASEGEN" eval --truth "$work/truth.pt" --samples "$work/s.pt" --classifier-steps 20 --checkpoint "$work/tiny.ckpt" \
  --trajectory "$work/traj.pt" --out "$work/paths" >/dev/null 2>&1 || fail "eval with --checkpoint and --trajectory"
for name in loss evolution; do
  [[ -s "$work/paths/plots/$name.png" ]] || fail "no $name.png"
done
grep -q "state at step 500" "$work/paths/plots/evolution.gp" || fail "evolution without the first state"
# The same seed and settings give the same file.
"$PHASEGEN" eval --truth "$work/truth.pt" --samples "$work/muon.pt" --samples "$work/flat.pt" --label muon --label flat \
  --classifier-steps 300 --out "$work/again" >/dev/null 2>&1
cmp -s "$work/eval/eval.json" "$work/again/eval.json" || fail "same settings, different eval.json"
if /usr/bin/python3 -c 'import json' 2>/dev/null; then
  /usr/bin/python3 - "$work/eval/eval.json" <<'PY' || fail "eval.json contents"
import json, sys
d = json.load(open(sys.argv[1]))
muon, flat = d["samples"]
assert muon["label"] == "muon" and flat["label"] == "flat"
floor = d["classifier_floor"]
# Same law: within 4 errors of 1/2. Flat phase space: far from it.
assert abs(muon["classifier"]["auc"] - 0.5) < 4 * muon["classifier"]["auc_error"] + 0.01, muon["classifier"]
assert abs(floor["auc"] - 0.5) < 4 * floor["auc_error"] + 0.01, floor
assert flat["classifier"]["auc"] > 0.55, flat["classifier"]
for name in ("E_1", "u1", "u2", "log10(tau/s)"):
    m, f = muon["observables"][name], flat["observables"][name]
    assert f["model"]["ks"] > m["model"]["ks"], name
    assert m["floor"]["ks"] > 0
assert muon["conservation"]["worst_momentum_over_sqrt_s"] < 1e-12
print("eval.json ok")
PY
fi
echo "cli_eval: all checks passed"
