#!/usr/bin/env bash
# Muon-decay figures with their spread over independent sample sets. For every seed: EVENTS events
# from the exact muon-decay sampler (the truth-vs-truth floor) and from each checkpoint, each
# compared with one truth file. Prints one Markdown row per source: mean +- standard deviation over
# the seeds of W1 of the three energies and of the Rosenblatt KS distances u1 and u2. A single set's
# figure scatters by about that deviation, so two sources differ only where their means are several
# deviations / sqrt(seeds) apart.
#
# usage: scripts/seed-spread.sh TRUTH CHECKPOINT[,FLAG,VALUE...]...
#   e.g.  scripts/seed-spread.sh out/demo/muon-test.pt out/demo/muon-langevin.ckpt \
#           runs/muon-flow-ot-200k.ckpt,--solver,heun,--nfe,20
#   Environment: PHASEGEN (build/apps/phasegen), SEEDS ("11 12 13 14 15"; not the truth's seed),
#   EVENTS (20000), WORK (runs/spread).
set -euo pipefail
[[ $# -ge 2 ]] || { sed -n '2,14p' "$0" >&2; exit 2; }
truth=$1
shift
phasegen=${PHASEGEN:-build/apps/phasegen}
seeds=${SEEDS:-11 12 13 14 15}
events=${EVENTS:-20000}
work=${WORK:-runs/spread}
mkdir -p "$work"

# figures FILE: "W1(E1) W1(E2) W1(E3) KS(u1) KS(u2)" of FILE against the truth.
figures() {
  "$phasegen" compare "$truth" "$1" --observables E_1,E_2,E_3,u1,u2 |
    awk '$1 == "E_1" { a = $3 } $1 == "E_2" { b = $3 } $1 == "E_3" { c = $3 } $1 == "u1" { d = $3 } $1 == "u2" { e = $3 }
         END { print a, b, c, d, e }'
}
# row NAME < lines of figures: the Markdown row of means +- deviations.
row() {
  awk -v name="$1" '{ for (i = 1; i <= 5; ++i) { s[i] += $i; q[i] += $i * $i } n++ }
    END { printf "| %s | %d", name, n
          for (i = 1; i <= 5; ++i) { m = s[i] / n; v = n > 1 ? (q[i] - n * m * m) / (n - 1) : 0
                                     printf " | %.5f +- %.5f", m, sqrt(v > 0 ? v : 0) }
          print " |" }'
}

echo "| source | sets | W1 E1 | W1 E2 | W1 E3 | KS u1 | KS u2 |"
echo "|---|---|---|---|---|---|---|"
for seed in $seeds; do
  "$phasegen" data --target muon --events "$events" --seed "$seed" --out "$work/floor-$seed.pt" >/dev/null
  figures "$work/floor-$seed.pt"
done | row "truth sampler (floor)"
for spec in "$@"; do
  IFS=, read -r -a parts <<<"$spec"
  checkpoint=${parts[0]}
  flags=("${parts[@]:1}")
  name="$(basename "$checkpoint" .ckpt)${flags[*]:+ ${flags[*]}}"
  for seed in $seeds; do
    out="$work/$(basename "$checkpoint" .ckpt)-$(IFS=_; echo "${flags[*]:-default}" | tr -d '-')-$seed.pt"
    "$phasegen" sample --checkpoint "$checkpoint" --events "$events" --seed "$seed" "${flags[@]}" --out "$out" >/dev/null
    figures "$out"
  done | row "$name"
done
