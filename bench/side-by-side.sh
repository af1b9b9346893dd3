#!/usr/bin/env bash
# phasegen against a Python reference doing the same work with PyTorch (bench/reference.py, the
# same LibTorch underneath: Debian's python3-torch), in one run. Each work item runs in each, one
# process apiece, ROUNDS times alternately (this shared machine's speed drifts by +-25 % over
# minutes); the table gives the median rates, their ratio against the target, and the largest peak
# memory (maximum resident set, /usr/bin/time) of each side.
#
# usage: bench/side-by-side.sh [WORK...]
#   WORK: train-exact train-transformer train-vp sample-langevin sample-flow (default: all)
#   Environment: BENCH (default build/bench/bench_side_by_side), PYTHON (/usr/bin/python3),
#   THREADS (LibTorch threads of both, 1: phasegen's default), PY_DEFAULT (1: also time the reference at
#   PyTorch's own default, one thread per CPU, as the paper's code runs), ROUNDS (3), EVENTS (sampled
#   events, 100000), REPEATS (0: each work's default), WORKERS (phasegen's --workers, 0: its default,
#   one per CPU).
set -euo pipefail
bench=${BENCH:-build/bench/bench_side_by_side}
python=${PYTHON:-/usr/bin/python3}
threads=${THREADS:-1}
py_default=${PY_DEFAULT:-1}
rounds=${ROUNDS:-3}
events=${EVENTS:-100000}
repeats=${REPEATS:-0}
workers=${WORKERS:-0}
here=$(dirname "$0")
works=("$@")
[[ ${#works[@]} -gt 0 ]] || works=(train-exact train-transformer train-vp sample-langevin sample-flow)
declare -A target=([train-exact]=2 [train-transformer]=1.2 [train-vp]=1.2 [sample-langevin]=1.5 [sample-flow]=1.5)
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# measure THREADS CMD...: appends "RATE PEAK_MB" (from the command's "WORK RATE UNIT" line).
measure() {
  local t=$1 line
  shift
  line=$(/usr/bin/time -f 'peak %M' -o "$log" "$@" --threads "$t" --events "$events" --repeats "$repeats")
  echo "$(awk '{ print $2 }' <<<"$line") $(awk '/^peak/ { printf "%.0f", $2 / 1024 }' "$log")"
}
# median RATES... and max of the second column: "MEDIAN_RATE MAX_MB".
summary() { sort -g | awk '{ r[NR] = $1; if ($2 > m) m = $2 } END { print r[int((NR + 1) / 2)], m }'; }
unit_of() { [[ $1 == sample-* ]] && echo "events/s" || echo "steps/s"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "phasegen $(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown), $(date -u +%F), $(nproc) CPUs," \
  "$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), LibTorch threads $threads," \
  "OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-unset}, phasegen --workers $workers (0: one per CPU), torch $("$python" -c 'import torch; print(torch.__version__)')," \
  "median of $rounds alternating rounds"
echo
header="| work | phasegen | Python reference | ratio | target"
rule="|---|---|---|---|---"
if [[ $py_default == 1 ]]; then
  header+=" | Python at PyTorch's default threads | ratio to it"
  rule+="|---|---"
fi
echo "$header | peak memory phasegen / Python |"
echo "$rule|---|"
for work in "${works[@]}"; do
  [[ -n ${target[$work]:-} ]] || { echo "side-by-side: unknown work '$work'" >&2; exit 2; }
  ours=() theirs=() defaults=()
  for ((i = 0; i < rounds; i++)); do
    ours+=("$(measure "$threads" "$bench" "$work" --workers "$workers")")
    theirs+=("$(measure "$threads" "$python" "$here/reference.py" "$work")")
    [[ $py_default == 1 ]] && defaults+=("$(measure 0 "$python" "$here/reference.py" "$work")")
  done
  read -r a a_mb < <(printf '%s\n' "${ours[@]}" | summary)
  read -r b b_mb < <(printf '%s\n' "${theirs[@]}" | summary)
  unit=$(unit_of "$work")
  r=$(ratio "$a" "$b")
  mark=$(awk -v r="$r" -v t="${target[$work]}" 'BEGIN { print (r >= t) ? "met" : "not met" }')
  row=$(printf '| %s | %.4g %s | %.4g %s | %s | >= %s: %s' "$work" "$a" "$unit" "$b" "$unit" "$r" "${target[$work]}" "$mark")
  if [[ $py_default == 1 ]]; then
    read -r c _ < <(printf '%s\n' "${defaults[@]}" | summary)
    row+=$(printf ' | %.4g %s | %s' "$c" "$unit" "$(ratio "$a" "$c")")
  fi
  echo "$row | $a_mb / $b_mb MB |"
  if [[ $work == train-exact ]]; then
    read -r s s_mb < <(measure "$threads" "$bench" train-exact-autograd)
    printf '| train-exact by 3N backward passes in phasegen (for comparison) | %.4g %s | | %s | |%s %s MB |\n' \
      "$s" "$unit" "$(ratio "$s" "$b")" "$([[ $py_default == 1 ]] && echo ' | |')" "$s_mb"
  fi
done
