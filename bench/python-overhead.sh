#!/usr/bin/env bash
# The cost of calling phasegen from Python: rambo_map on 1e6 states from Python (phasegen.rambo_map,
# with its argument checks: shape, dtype, device, every entry finite) against the same C++ call
# (bench_phasespace's BM_RamboMap), one LibTorch thread each, the same kernels: in each of ROUNDS
# alternate rounds (this shared machine's speed drifts) the median of 5 calls on each side; the
# medians over the rounds and their ratio (Python / C++).
#
# usage: bench/python-overhead.sh     Environment: BUILD (default build), PYTHON (/usr/bin/python3), ROUNDS (5)
set -euo pipefail
build=${BUILD:-build}
python=${PYTHON:-/usr/bin/python3}
rounds=${ROUNDS:-5}
here=$(dirname "$0")
# One set of CPU kernels for both sides: the module selects AVX-512 where the processor has it (as the
# command line does), the benchmark program does not by itself.
if [[ -z ${ATEN_CPU_CAPABILITY:-} ]] && grep -qw avx512f /proc/cpuinfo && grep -qw avx512bw /proc/cpuinfo &&
   grep -qw avx512dq /proc/cpuinfo && grep -qw avx512vl /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then
  export ATEN_CPU_CAPABILITY=avx512
fi
echo "kernels: ${ATEN_CPU_CAPABILITY:-the LibTorch default}"
declare -A cxx py
for n in 3 10; do cxx[$n]=""; py[$n]=""; done
for ((r = 1; r <= rounds; ++r)); do
  for n in 3 10; do
    ms=$("$build/bench/bench_phasespace" --benchmark_filter="BM_RamboMap/N:$n/" --benchmark_min_time=0 \
           --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
           2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' | awk '/^BM_RamboMap.*_median/ {print $2}')
    cxx[$n]+="$ms "
    ms=$(PYTHONPATH="$build/python" OMP_NUM_THREADS=1 "$python" "$here/python_overhead.py" "$n" 1000000 5 | sed 's/.*ms=//')
    py[$n]+="$ms "
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
printf '%-4s %-10s %14s %14s %8s\n' N events "C++ ms" "Python ms" ratio
for n in 3 10; do
  c=$(echo "${cxx[$n]}" | median)
  p=$(echo "${py[$n]}" | median)
  printf '%-4s %-10s %14.2f %14.2f %8.3f\n' "$n" 1000000 "$c" "$p" "$(echo "$p / $c" | bc -l)"
done
