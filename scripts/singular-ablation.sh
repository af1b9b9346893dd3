#!/usr/bin/env bash
# The ablation of issue 18 on q qbar g at msq = 1e-3: each setting for singular targets alone on
# top of the q-space baseline (flow matching from the RAMBO prior, fibre coupling, the paper's MLP),
# then the Dalitz-plane state with and without its cut mapping, all at one budget of steps on the
# same 1M training events, each sampled once (20k events, seed 3) and judged by `phasegen eval`
# against the 100k test set. Prints one Markdown row per setting: training time, the KS distance
# of log10(tau/s), the worst KS distance, the classifier AUC and the cut's dropped fraction, with
# the floors in the last row. Two runs go side by side (one core each); rows already evaluated in
# WORK are kept.
#
# usage: scripts/singular-ablation.sh [STEPS]      (default 5000)
#   Environment: PHASEGEN (build/apps/phasegen), WORK (runs/ablation-qqg), JOBS (2).
set -euo pipefail
steps=${1:-5000}
phasegen=${PHASEGEN:-build/apps/phasegen}
work=${WORK:-runs/ablation-qqg}
jobs=${JOBS:-2}
mkdir -p "$work"
train=$work/qqg-msq1e-3-train1m.pt
test=$work/qqg-msq1e-3-test.pt
[[ -f $train && -f $test ]] ||
  "$phasegen" data -t qqg --msq 1e-3 -e 1000000 --seed 31 -o "$train" --test-events 100000 --test-seed 32 \
    --test-out "$test" > /dev/null

# card NAME MODEL-LINES: a run card of the setting, its [train] table common to every row.
card() {
  cat > "$work/$1.toml" <<EOF
[model]
kind = "flow"
solver = "heun"
nfe = 20
network = "mlp"
hidden = 256
layers = 4
time_embedding = 64
$2

[train]
data = "$train"
batch = 1024
steps = $steps
lr = 1e-3
weight_decay = 1e-4
clip = 1.0
warmup = 100
ema = 0.999
validation_fraction = 0.05
validate_every = $steps
checkpoint_every = $steps
checkpoint = "$work/$1.ckpt"
seed = 1
EOF
}
q='prior = "rambo"
lift = "random"'
card baseline "$q"$'\ncoupling = "fibre"'
card invariants "$q"$'\ncoupling = "fibre"\nfeatures = "invariants"'
card time-data "$q"$'\ncoupling = "fibre"\ntime_law = "data"'
card ot "$q"$'\ncoupling = "ot"'
card cut "$q"$'\ncoupling = "fibre"\ncut = 1e-3'
card all-q "$q"$'\ncoupling = "ot"\nfeatures = "invariants"\ntime_law = "data"\ncut = 1e-3'
card dalitz-plain $'prior = "dalitz"\ncut = 0.0'
card dalitz $'prior = "dalitz"\ncut = 1e-3'
rows=(baseline invariants time-data ot cut all-q dalitz-plain dalitz)

# A row whose evaluation exists is kept (an interrupted ablation picks up where it stopped).
run() {
  local name=$1
  [[ -f $work/$name-eval/eval.json ]] && return
  "$phasegen" train --card "$work/$name.toml" --workers 1 > "$work/$name.train.log" 2>&1
  "$phasegen" sample --checkpoint "$work/$name.ckpt" --events 20000 --seed 3 --workers 1 --out "$work/$name-samples.pt" \
    > "$work/$name.sample.log"
  "$phasegen" eval --truth "$test" --samples "$work/$name-samples.pt" --out "$work/$name-eval" --no-plots \
    > "$work/$name.eval.log"
}
for name in "${rows[@]}"; do
  while (( $(jobs -rp | wc -l) >= jobs )); do wait -n; done
  run "$name" &
done
wait

python3 - "$work" "${rows[@]}" <<'EOF'
import json, re, sys
work, rows = sys.argv[1], sys.argv[2:]
print("| setting | training | KS log10(tau/s) | worst KS (observable) | AUC | cut dropped |")
print("|---|---|---|---|---|---|")
floor = None
for name in rows:
    d = json.load(open(f"{work}/{name}-eval/eval.json"))
    s = d["samples"][0]
    obs = s["observables"]
    worst = max(obs, key=lambda k: obs[k]["model"]["ks"])
    seconds = re.search(r"finished at step \d+ in (\S+) s", open(f"{work}/{name}.train.log").read()).group(1)
    m = re.search(r"dropped fraction (\S+)", open(f"{work}/{name}.sample.log").read())
    print(f"| {name} | {seconds} s | {obs['log10(tau/s)']['model']['ks']:.4f} | {obs[worst]['model']['ks']:.4f} ({worst}) | "
          f"{s['classifier']['auc']:.4f} +- {s['classifier']['auc_error']:.4f} | {m.group(1) if m else '-'} |")
    fw = max(obs, key=lambda k: obs[k]["floor"]["ks"])
    floor = (obs["log10(tau/s)"]["floor"]["ks"], obs[fw]["floor"]["ks"], fw, d["classifier_floor"]["auc"], d["classifier_floor"]["auc_error"])
print(f"| floor (truth vs truth) | | {floor[0]:.4f} | {floor[1]:.4f} ({floor[2]}) | {floor[3]:.4f} +- {floor[4]:.4f} | |")
EOF
