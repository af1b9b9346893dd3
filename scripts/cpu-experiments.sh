#!/usr/bin/env bash
# The paper's experiments at CPU size, one command: for each CPU-sized card in cards/, generate its data
# (training and test sets, skipped where the files exist), train, sample, and judge the samples against
# the card's test set with `phasegen eval` (figures included); then print a Markdown table of the
# headline figures, each beside its truth-vs-truth floor (docs/RESULTS.md holds a measured one).
#
# usage: scripts/cpu-experiments.sh [NAME...]      (default: every experiment below)
#        scripts/cpu-experiments.sh --table NAME...  (the table again from a finished run's logs)
#   NAME: muon-langevin qqg-msq1e-2 qqg-msq1e-3 qqg-msq1e-4 aps-xi20 aps-xi30 aps-xi40 aps-xi30-pflow aps-xi30-pddpm
#   Environment: PHASEGEN (default build/apps/phasegen), JOBS (2: experiments run side by side, one
#   thread each), WORK (runs/cpu-experiments), EVENTS (20000 sampled events; 10000 for the p-space
#   baselines, whose 500-NFE samplers on the transformer are the slowest part).
set -euo pipefail
phasegen=${PHASEGEN:-build/apps/phasegen}
jobs=${JOBS:-2}
work=${WORK:-runs/cpu-experiments}
events=${EVENTS:-20000}

declare -A card=(
  [muon-langevin]=cards/muon-langevin-cpu.toml
  [qqg-msq1e-2]=cards/qqg-msq1e-2-flow-rambo-cpu.toml
  [qqg-msq1e-3]=cards/qqg-msq1e-3-flow-rambo-cpu.toml
  [qqg-msq1e-4]=cards/qqg-msq1e-4-flow-rambo-cpu.toml
  [aps-xi20]=cards/aps-n10-xi20-flow-rambo-cpu.toml
  [aps-xi30]=cards/aps-n10-xi30-flow-rambo-cpu.toml
  [aps-xi40]=cards/aps-n10-xi40-flow-rambo-cpu.toml
  [aps-xi30-pflow]=cards/aps-n10-xi30-pflow-cpu.toml
  [aps-xi30-pddpm]=cards/aps-n10-xi30-pddpm-cpu.toml
)
all=(muon-langevin qqg-msq1e-2 qqg-msq1e-3 qqg-msq1e-4 aps-xi20 aps-xi30 aps-xi40 aps-xi30-pflow aps-xi30-pddpm)

# The value of a plain `key = "value"` line of a card.
card_value() { sed -n "s/^$2 *= *\"\(.*\)\"\$/\1/p" "$1" | head -1; }

# One experiment: train, sample, eval. Logs and outputs under $work/NAME*.
run_one() {
  local name=$1 c=${card[$1]} n=$events
  [[ $name == *-p* ]] && n=${EVENTS_BASELINE:-10000}
  local truth
  truth=$(card_value "$c" test_out)
  "$phasegen" train --card "$c" --checkpoint "$work/$name.ckpt" >"$work/$name.train.log" 2>&1
  "$phasegen" sample --checkpoint "$work/$name.ckpt" --events "$n" --seed 3 --out "$work/$name.pt" \
    >"$work/$name.sample.log" 2>&1
  "$phasegen" eval --truth "$truth" --samples "$work/$name.pt" --label "$name" --checkpoint "$work/$name.ckpt" \
    --out "$work/$name-eval" >"$work/$name.eval.log" 2>&1
  echo "done: $name"
}

if [[ ${1:-} == --one ]]; then
  run_one "$2"
  exit
fi

# The table: per experiment, the KS distance of log10(tau/s), the worst KS distance over the observables (and its floor), the classifier
# AUC (and its floor), the Table I energy metric and the worst conservation error, training and sampling rates.
print_table() {
  python3 - "$work" "$@" <<'EOF'
import json, re, sys
work, names = sys.argv[1], sys.argv[2:]
print("| experiment | model | training | sampling | KS D log10(tau/s) (floor) | worst KS D (observable) | its floor | AUC | AUC floor | <dE>/E_med | worst dP/sqrt_s |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for name in names:
    e = json.load(open(f"{work}/{name}-eval/eval.json"))
    s = e["samples"][0]
    obs, worst = max(s["observables"].items(), key=lambda kv: kv[1]["model"]["ks"])
    tau = s["observables"]["log10(tau/s)"]
    train = open(f"{work}/{name}.train.log").read()
    sample = open(f"{work}/{name}.sample.log").read()
    steps, secs = re.search(r"finished at step (\d+) in ([\d.e+]+) s", train).groups()
    line = re.search(r"^  model +(.*)$", sample, re.M).group(1)
    space = re.search(r"q-space|z-space|p-space", line)
    model = re.split(r"[,:]", line)[0] + (f" ({space.group(0)})" if space and space.group(0) not in line.split(",")[0] else "")
    rate, sampler = re.search(r"^  sampling .*?, ([\d.e+]+) events/s, (.*)$", sample, re.M).groups()
    c = s["conservation"]
    print(f"| {name} | {model} | {steps} steps, {float(secs):.0f} s | {sampler}, {rate} ev/s, {s['events']} events "
          f"| {tau['model']['ks']:.4f} ({tau['floor']['ks']:.4f}) | {worst['model']['ks']:.4f} ({obs}) | {worst['floor']['ks']:.4f} "
          f"| {s['classifier']['auc']:.4f} +- {s['classifier']['auc_error']:.4f} "
          f"| {e['classifier_floor']['auc']:.4f} +- {e['classifier_floor']['auc_error']:.4f} "
          f"| {c['table_one_E']:.3g} | {c['worst_momentum_over_sqrt_s']:.3g} |")
EOF
}

if [[ ${1:-} == --table ]]; then  # the table again, from the logs of a finished run
  shift
  print_table "$@"
  exit
fi

names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=("${all[@]}")
for name in "${names[@]}"; do
  [[ -n ${card[$name]:-} ]] || { echo "cpu-experiments: unknown experiment '$name' (known: ${all[*]})" >&2; exit 2; }
done
mkdir -p "$work"
# Data first, one card at a time: several experiments share a set.
for name in "${names[@]}"; do
  c=${card[$name]}
  if [[ ! -f $(card_value "$c" out) || ! -f $(card_value "$c" test_out) ]]; then
    mkdir -p "$(dirname "$(card_value "$c" out)")"
    "$phasegen" data --card "$c" >"$work/$name.data.log" 2>&1
  fi
done
printf '%s\n' "${names[@]}" | xargs -P "$jobs" -I{} "$0" --one {}
print_table "${names[@]}"
