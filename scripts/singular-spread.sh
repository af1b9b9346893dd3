#!/usr/bin/env bash
# Figures of models of a singular set (q qbar g, APS) with their spread over independent sample
# sets, each beside the truth-vs-truth floor measured the same way. For every seed: EVENTS events
# from the target's exact generator (the floor) and from each checkpoint, all judged by one
# `phasegen eval` against one truth file. Prints one Markdown row per source: mean +- standard
# deviation over the seeds of the KS distance of log10(tau/s), of the worst KS distance over every
# observable (and the observable most often worst), of the classifier AUC, and the sampling speed
# and the generator-level cut's dropped fraction of the model's runs.
#
# usage: scripts/singular-spread.sh TRUTH "DATA FLAGS" CHECKPOINT[,FLAG,VALUE...]...
#   e.g.  scripts/singular-spread.sh runs/qqg-msq1e-3-test.pt "-t qqg --msq 1e-3" runs/qqg-msq1e-3-cpu.ckpt
#   DATA FLAGS: the `phasegen data` flags of the truth's target (its seeds are the script's).
#   Environment: PHASEGEN (build/apps/phasegen), SEEDS ("11 12 13 14 15"; not the truth's seed),
#   EVENTS (20000), WORK (runs/spread-singular), LABELS (one name per checkpoint, space-separated).
set -euo pipefail
[[ $# -ge 3 ]] || { sed -n '2,15p' "$0" >&2; exit 2; }
truth=$1
target=$2
shift 2
phasegen=${PHASEGEN:-build/apps/phasegen}
seeds=${SEEDS:-11 12 13 14 15}
events=${EVENTS:-20000}
work=${WORK:-runs/spread-singular}
read -r -a labels <<< "${LABELS:-}"
mkdir -p "$work"

samples=()
names=()
for seed in $seeds; do
  # shellcheck disable=SC2086  # the target's flags are words
  "$phasegen" data $target -e "$events" --seed "$seed" -o "$work/truth-$seed.pt" > /dev/null
  samples+=("$work/truth-$seed.pt")
  names+=("floor:$seed")
done
index=0
for spec in "$@"; do
  IFS=, read -r -a parts <<< "$spec"
  checkpoint=${parts[0]}
  label=${labels[$index]:-$(basename "$checkpoint" .ckpt)}
  index=$((index + 1))
  for seed in $seeds; do
    out="$work/$label-$seed.pt"
    "$phasegen" sample --checkpoint "$checkpoint" --events "$events" --seed "$seed" --out "$out" "${parts[@]:1}" \
      > "$work/$label-$seed.log"
    samples+=("$out")
    names+=("$label:$seed")
  done
done

"$phasegen" eval --truth "$truth" --samples "${samples[@]}" --label "${names[@]}" --out "$work/eval" --no-plots \
  > "$work/eval.log"

python3 - "$work" <<'EOF'
import json, math, re, sys
from collections import Counter, OrderedDict

work = sys.argv[1]
d = json.load(open(f"{work}/eval/eval.json"))
rows = OrderedDict()
for s in d["samples"]:
    source, seed = s["label"].rsplit(":", 1)
    obs = s["observables"]
    worst = max(obs, key=lambda k: obs[k]["model"]["ks"])
    r = rows.setdefault(source, {"tau": [], "worst": [], "which": Counter(), "auc": [], "speed": [], "cut": []})
    r["tau"].append(obs["log10(tau/s)"]["model"]["ks"])
    r["worst"].append(obs[worst]["model"]["ks"])
    r["which"][worst] += 1
    r["auc"].append(s["classifier"]["auc"])
    if source != "floor":
        log = open(f"{work}/{source}-{seed}.log").read()
        m = re.search(r"sampling\s+\S+ s, (\S+) events/s", log)
        r["speed"].append(float(m.group(1)) if m else float("nan"))
        m = re.search(r"dropped fraction (\S+)", log)
        r["cut"].append(float(m.group(1)) if m else 0.0)

def spread(v):
    n = len(v)
    m = sum(v) / n
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (n - 1)) if n > 1 else 0.0
    return f"{m:.4f} +- {sd:.4f}"

print("| source | sets | KS log10(tau/s) | worst KS (observable) | AUC | events/s | cut dropped |")
print("|---|---|---|---|---|---|---|")
for source, r in rows.items():
    which = r["which"].most_common(1)[0][0]
    speed = f"{sum(r['speed']) / len(r['speed']):.3g}" if r["speed"] else ""
    cut = f"{sum(r['cut']) / len(r['cut']):.4f}" if r["speed"] else ""
    print(f"| {source} | {len(r['tau'])} | {spread(r['tau'])} | {spread(r['worst'])} ({which}) | {spread(r['auc'])} | {speed} | {cut} |")
EOF
