#!/usr/bin/env bash
# The exact event weights of a flow model against a known target, over independent runs: for every
# seed, `phasegen integrate` (the integral against the exact value, ESS, unweighting efficiencies,
# beside flat phase space and the generator's mapping), `phasegen sample --weights` (a weighted
# set) and a set of the target's own generator of that set's effective size (the floor), all judged
# by one `phasegen eval` against a truth file. Prints Markdown rows: mean +- sd over the seeds, and
# per observable the mean KS of the weighted sets over the mean KS of the generator's sets.
#
# usage: scripts/weights-spread.sh CHECKPOINT TRUTH "TARGET FLAGS"
#   e.g.  scripts/weights-spread.sh runs/qqg-msq1e-3-cpu.ckpt runs/qqg-msq1e-3-test.pt "qqg --msq 1e-3"
#   Environment: PHASEGEN (build/apps/phasegen), SEEDS ("11 12 13 14 15"), EVENTS (integrate's,
#   100000), SET_EVENTS (each weighted set's, 20000), WORK (runs/weights-spread), WORKERS (1),
#   REUSE (1: keep the integrate and weighted-set files already in WORK).
set -euo pipefail
[[ $# -eq 3 ]] || { sed -n '2,13p' "$0" >&2; exit 2; }
checkpoint=$1
truth=$2
read -r -a target <<< "$3"
phasegen=${PHASEGEN:-build/apps/phasegen}
seeds=${SEEDS:-11 12 13 14 15}
events=${EVENTS:-100000}
set_events=${SET_EVENTS:-20000}
work=${WORK:-runs/weights-spread}
workers=${WORKERS:-1}
reuse=${REUSE:-0}
mkdir -p "$work"

samples=()
labels=()
for seed in $seeds; do
  if [[ $reuse != 1 || ! -f $work/integrate-$seed.json ]]; then
    "$phasegen" integrate --checkpoint "$checkpoint" --target "${target[@]}" --events "$events" --seed "$seed" \
      --workers "$workers" --out "$work/integrate-$seed.json" > "$work/integrate-$seed.log"
  fi
  if [[ $reuse != 1 || ! -f $work/weighted-$seed.pt ]]; then
    "$phasegen" sample --checkpoint "$checkpoint" --weights "${target[@]}" --events "$set_events" --seed "$seed" \
      --workers "$workers" --out "$work/weighted-$seed.pt" > "$work/weighted-$seed.log"
  fi
  # The floor: the generator's events, as many as the weighted set's effective size (its log's ESS/n).
  ess=$(sed -n 's/.*ESS\/n \([0-9.e+-]*\),.*/\1/p' "$work/weighted-$seed.log" | head -1)
  [[ -n $ess ]] || { echo "weights-spread: no ESS/n in $work/weighted-$seed.log" >&2; exit 1; }
  floor_events=$(python3 -c "print(max(2, round($set_events * $ess)))")
  "$phasegen" data -t "${target[@]}" -e "$floor_events" --seed "$((seed + 1000))" -o "$work/floor-$seed.pt" > /dev/null
  samples+=("$work/weighted-$seed.pt" "$work/floor-$seed.pt")
  labels+=("weighted:$seed" "floor:$seed")
done
"$phasegen" eval --truth "$truth" --samples "${samples[@]}" --label "${labels[@]}" --out "$work/eval" --no-plots \
  > "$work/eval.log"

python3 - "$work" $seeds <<'PY'
import json, math, sys

work, seeds = sys.argv[1], sys.argv[2:]

def spread(v, digits=4):
    n = len(v)
    m = sum(v) / n
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (n - 1)) if n > 1 else 0.0
    return f"{m:.{digits}g} +- {sd:.2g}"

runs = [json.load(open(f"{work}/integrate-{s}.json")) for s in seeds]
exact = runs[0]["exact"]
unit = runs[0]["unit"]
print(f"target: {runs[0]['target']}; exact integral {exact:.8g} {unit}; {runs[0]['events']} events per run, {len(runs)} runs")
print("| source | integral | pull (within 2?) | rel. sd of w | ESS / events | unweighting eff. | truncated 1e-3 | truncated 1e-2 |")
print("|---|---|---|---|---|---|---|---|")
for key, name in (("model_weights", "model"), ("flat_phase_space", "flat phase space")):
    rows = [r[key] for r in runs]
    pulls = [(x["integral"] - exact) / x["error"] if x["error"] > 0 else 0.0 for x in rows]
    within = sum(abs(p) <= 2 for p in pulls)
    print(f"| {name} | {spread([x['integral'] for x in rows], 7)} (error {spread([x['error'] for x in rows], 2)}) | "
          f"{', '.join(f'{p:+.2f}' for p in pulls)} ({within}/{len(pulls)}) | {spread([x['relative_sd'] for x in rows])} | "
          f"{spread([x['ess_per_event'] for x in rows])} | {spread([x['unweighting_efficiency'] for x in rows])} | "
          f"{spread([x['truncated'][0]['efficiency'] for x in rows])} | {spread([x['truncated'][1]['efficiency'] for x in rows])} |")
if "generator_mapping" in runs[0]:
    g = [r["generator_mapping"] for r in runs]
    pulls = [(x["integral"] - exact) / x["error"] for x in g]
    print(f"| generator mapping | {spread([x['integral'] for x in g], 7)} (error {spread([x['error'] for x in g], 2)}) | "
          f"{', '.join(f'{p:+.2f}' for p in pulls)} | | | {spread([x['acceptance'] for x in g])} (acceptance) | | |")
ratio = [r["model_weights"]["unweighting_efficiency"] / r["flat_phase_space"]["unweighting_efficiency"] for r in runs]
print(f"model / flat unweighting efficiency: {spread(ratio, 3)}")
if "generator_mapping" in runs[0]:
    ratio = [r["model_weights"]["unweighting_efficiency"] / r["generator_mapping"]["acceptance"] for r in runs]
    print(f"model / generator mapping: {spread(ratio, 3)}")
nonpositive = sum(r["nonpositive_jacobian_events"] for r in runs)
print(f"events with a non-positive step determinant: {nonpositive}; sampling {spread([r['events'] / r['seconds'] for r in runs], 3)} events/s")

d = json.load(open(f"{work}/eval/eval.json"))
weighted = [s for s in d["samples"] if s["label"].startswith("weighted:")]
floors = {s["label"].split(":", 1)[1]: s for s in d["samples"] if s["label"].startswith("floor:")}
print()
print("| set | effective size | worst KS / its floor set's (observable) | KS log10(tau/s) / floor | AUC (floor set's) |")
print("|---|---|---|---|---|")
aucs, ess = [], []
for s in weighted:
    f = floors[s["label"].split(":", 1)[1]]
    obs, fobs = s["observables"], f["observables"]
    ratios = {k: obs[k]["model"]["ks"] / fobs[k]["model"]["ks"] for k in obs}
    worst = max(ratios, key=ratios.get)
    aucs.append(s["classifier"]["auc"])
    ess.append(s["effective_events"])
    print(f"| {s['label']} | {s['effective_events']} | {ratios[worst]:.2f} ({worst}) | "
          f"{ratios.get('log10(tau/s)', float('nan')):.2f} | {s['classifier']['auc']:.4f} ({f['classifier']['auc']:.4f}) |")
print(f"over the sets: AUC {spread(aucs)} (floor sets' {spread([f['classifier']['auc'] for f in floors.values()])}), "
      f"effective size {spread(ess, 5)}")
# Per observable, the mean KS of the weighted sets against the mean KS of the floor sets.
names = list(weighted[0]["observables"])
means = {k: (sum(s["observables"][k]["model"]["ks"] for s in weighted) / len(weighted),
             sum(f["observables"][k]["model"]["ks"] for f in floors.values()) / len(floors)) for k in names}
worst = max(names, key=lambda k: means[k][0] / means[k][1])
print(f"mean KS of the weighted sets / mean KS of the floor sets, worst observable: {means[worst][0] / means[worst][1]:.2f} "
      f"({worst}: {means[worst][0]:.4f} / {means[worst][1]:.4f}); every observable: "
      + ", ".join(f"{k} {means[k][0] / means[k][1]:.2f}" for k in names))
PY
