#!/usr/bin/env bash
# Fuzzes the event readers (read_events for .pt, .hepmc3, .lhe; read_trajectory) with libFuzzer under
# AddressSanitizer and UndefinedBehaviorSanitizer: builds fuzz/ with clang into build-fuzz (installing
# clang-14 and libclang-rt-14-dev where missing), seeds it with fuzz/corpus (valid files written by
# phasegen itself; remade with the tool when the directory is absent) and runs for SECONDS. Inputs that
# libFuzzer finds new go to build-fuzz/corpus; a crash, a sanitizer report, an exception other than
# phasegen::Error, an input slower than 20 s or a process above 2 GB is a finding: its input is kept in
# build-fuzz/findings/ and the script exits non-zero (re-run one: build-fuzz/fuzz_event_readers FILE).
#
# usage: scripts/fuzz.sh [SECONDS]   (default 300)
#   Environment: BUILD (build-fuzz), CXX_FUZZ (clang++-14), PHASEGEN (build/apps/phasegen, only to
#   remake the seed corpus).
# Measured 2026-11-24 on the 2-core development machine (Debian LibTorch 1.13.1, HepMC3 3.1.2): build
# about 1 minute; a 600 s run from a corpus of earlier runs: 1.48 million inputs, 2470 per second,
# coverage 1851 -> 1895 edges (ft 4378 -> 4806) of phasegen's readers and LHEF.h (LibTorch and libHepMC3
# are not instrumented), 625 inputs kept, peak 723 MB, no finding. The earlier runs found 11 (crashes,
# hangs, leaks and multi-GB allocations from files of a few kB, mostly inside LibTorch and libHepMC3),
# each now refused with a phasegen::Error; tests/test_event_io.cpp holds one regression case for each.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
build=${BUILD:-build-fuzz}
cxx=${CXX_FUZZ:-clang++-14}
phasegen=${PHASEGEN:-build/apps/phasegen}
seeds=fuzz/corpus

scripts/install-deps.sh clang-14 libclang-rt-14-dev cmake make libtorch-dev libhepmc3-dev
cmake -S fuzz -B "$build" -DCMAKE_CXX_COMPILER="$cxx" >/dev/null
cmake --build "$build" -j "${JOBS:-$(nproc)}"

# Seed corpus: small valid files of every reader, each behind the byte that picks the reader (0 .pt,
# 1 .hepmc3, 2 .lhe, 3 trajectory .pt; see fuzz/fuzz_event_readers.cpp).
make_corpus() {
  [[ -x "$phasegen" ]] || { echo "fuzz: $seeds is missing and $phasegen is not built (make build-cli)" >&2; exit 1; }
  local tmp
  tmp=$(mktemp -d)
  local exe
  exe=$(realpath "$phasegen")
  (
    cd "$tmp"
    for n in 3 8; do
      for ext in pt hepmc3 lhe; do
        "$exe" data -n "$n" -e $((n == 3 ? 3 : 2)) --seed "$n" -o "uniform-n$n.$ext" >/dev/null
      done
    done
    "$exe" data -n 3 -e 512 -o train.pt >/dev/null
    "$exe" train --kind flow --data train.pt --checkpoint flow.ckpt --steps 2 --batch 64 --workers 1 >/dev/null
    "$exe" sample --checkpoint flow.ckpt -e 3 --batch 3 --workers 1 -o flow-n3.pt \
      --trajectory-every 5 --trajectory-out trajectory-n3.pt --trajectory-events 3 >/dev/null
  )
  mkdir -p "$seeds"
  for f in "$tmp"/uniform-*.pt "$tmp"/flow-n3.pt; do
    cat <(printf '\x00') "$f" >"$seeds/pt-$(basename "$f" .pt)"
  done
  for f in "$tmp"/uniform-*.hepmc3; do cat <(printf '\x01') "$f" >"$seeds/hepmc3-$(basename "$f" .hepmc3)"; done
  for f in "$tmp"/uniform-*.lhe; do cat <(printf '\x02') "$f" >"$seeds/lhe-$(basename "$f" .lhe)"; done
  cat <(printf '\x03') "$tmp/trajectory-n3.pt" >"$seeds/trajectory-n3"
  rm -rf "$tmp"
}
[[ -d "$seeds" ]] || make_corpus

mkdir -p "$build/corpus" "$build/findings"
# Each run reads its inputs from a directory of its own under TMPDIR, left behind when it crashes.
rm -rf "$build/tmp" && mkdir -p "$build/tmp"
export TMPDIR=$(realpath "$build/tmp")
# Leak checks stay on, but for one known leak inside LibTorch (see fuzz/lsan.supp).
export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1
export LSAN_OPTIONS=suppressions=$PWD/fuzz/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export OMP_NUM_THREADS=1
# -close_fd_mask=1: libHepMC3 3.1.2 prints to stdout about the files it cannot parse.
set +e
"$build/fuzz_event_readers" "$build/corpus" "$seeds" -dict=fuzz/event_readers.dict -close_fd_mask=1 \
  -max_total_time="$seconds" -max_len=65536 -timeout=20 -rss_limit_mb=2048 \
  -artifact_prefix="$build/findings/" -print_final_stats=1 2>&1 | tee "$build/fuzz.log"
status=${PIPESTATUS[0]}
set -e
if ((status != 0)); then
  echo "fuzz: FINDING (libFuzzer exit $status): see $build/fuzz.log and $build/findings/" >&2
  exit 1
fi
echo "fuzz: no finding in $seconds s; $(ls "$build/corpus" | wc -l) inputs in $build/corpus"
