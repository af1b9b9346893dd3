#!/usr/bin/env bash
# phasegen eval end to end: a table, eval.json beside it, the floors, a classifier that tells flat
# phase space from muon decay but not muon decay from itself, and the same figures on a re-run.
set -euo pipefail
: "${PHASEGEN:?set PHASEGEN to the phasegen executable}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$PHASEGEN" data --target muon --events 8000 --seed 1 --out "$work/truth.pt" >/dev/null
"$PHASEGEN" data --target muon --events 3000 --seed 2 --out "$work/muon.pt" >/dev/null
"$PHASEGEN" phasespace --particles 3 --sqrt-s 1 --events 3000 --seed 3 --out "$work/flat.pt" >/dev/null
"$PHASEGEN" eval --truth "$work/truth.pt" --samples "$work/muon.pt" --samples "$work/flat.pt" --label muon --label flat \
  --classifier-steps 300 --out "$work/eval" >"$work/eval.log" 2>"$work/eval.err"
cat "$work/eval.log"
[[ -s "$work/eval/eval.json" ]] || fail "no eval.json"
grep -q "^headline (muon): Rosenblatt KS" "$work/eval.log" || fail "no headline"
grep -q "^classifier AUC .*| floor:" "$work/eval.log" || fail "no classifier line with its floor"
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
