#!/usr/bin/env bash
# phasegen against a Python reference doing the same work with PyTorch (bench/reference.py, the
# same LibTorch underneath: Debian's python3-torch), in one run: each work item in each, one process
# apiece, then a Markdown table of the rates, their ratio, the target and each process's peak memory
# (maximum resident set, /usr/bin/time).
#
# usage: bench/side-by-side.sh [WORK...]
#   WORK: train-exact train-transformer train-vp sample-langevin sample-flow (default: all)
#   Environment: BENCH (default build/bench/bench_side_by_side), PYTHON (/usr/bin/python3),
#   THREADS (LibTorch threads of both, 1), EVENTS (sampled events, 100000), REPEATS (0: each work's default).
set -euo pipefail
bench=${BENCH:-build/bench/bench_side_by_side}
python=${PYTHON:-/usr/bin/python3}
threads=${THREADS:-1}
events=${EVENTS:-100000}
repeats=${REPEATS:-0}
here=$(dirname "$0")
works=("$@")
[[ ${#works[@]} -gt 0 ]] || works=(train-exact train-transformer train-vp sample-langevin sample-flow)
declare -A target=([train-exact]=2 [train-transformer]=1.2 [train-vp]=1.2 [sample-langevin]=1.5 [sample-flow]=1.5)
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# measure CMD...: prints "RATE UNIT PEAK_MB" from the command's "WORK RATE UNIT" line.
measure() {
  local line
  line=$(/usr/bin/time -f 'peak %M' -o "$log" "$@" --threads "$threads" --events "$events" --repeats "$repeats")
  echo "$(awk '{ print $2, $3 }' <<<"$line") $(awk '/^peak/ { printf "%.0f", $2 / 1024 }' "$log")"
}

echo "phasegen $(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown), $(date -u +%F), $(nproc) CPUs," \
  "LibTorch threads $threads, OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-unset}," \
  "torch $("$python" -c 'import torch; print(torch.__version__)')"
echo
echo "| work | phasegen | Python reference | ratio | target | peak memory phasegen / Python |"
echo "|---|---|---|---|---|---|"
for work in "${works[@]}"; do
  [[ -n ${target[$work]:-} ]] || { echo "side-by-side: unknown work '$work'" >&2; exit 2; }
  read -r ours unit ours_mb < <(measure "$bench" "$work")
  read -r theirs _ theirs_mb < <(measure "$python" "$here/reference.py" "$work")
  ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%.2f", a / b }')
  mark=$(awk -v r="$ratio" -v t="${target[$work]}" 'BEGIN { print (r >= t) ? "met" : "NOT met" }')
  printf '| %s | %.4g %s | %.4g %s | %s | >= %s (%s) | %s / %s MB |\n' "$work" "$ours" "$unit" "$theirs" "$unit" \
    "$ratio" "${target[$work]}" "$mark" "$ours_mb" "$theirs_mb"
  if [[ $work == train-exact ]]; then
    read -r slow _ slow_mb < <(measure "$bench" train-exact-autograd)
    printf '| train-exact by 3N backward passes (phasegen, for comparison) | %.4g %s | | %s | | %s MB |\n' "$slow" "$unit" \
      "$(awk -v a="$slow" -v b="$theirs" 'BEGIN { printf "%.2f", a / b }')" "$slow_mb"
  fi
done
