#!/usr/bin/env bash
# The test suite under AddressSanitizer and UndefinedBehaviorSanitizer: phasegen's own code (library,
# tool, tests) built with -fsanitize=address,undefined (the CMake option PHASEGEN_SANITIZE), LibTorch
# and the other libraries as installed. Any report fails the test that triggered it.
#
# usage: scripts/sanitize.sh [CTEST-REGEX]   (default: every test; e.g. 'RamboMap|EventIo|cli_')
# Measured 2026-11-24 on the 2-core development machine: build about 15 minutes from scratch; all 151
# tests (with the two-process and fuzz-regression ones) pass in about 4 minutes.
#   Environment: BUILD (build-asan), JOBS (one per CPU).
set -euo pipefail
build=${BUILD:-build-asan}
jobs=${JOBS:-$(nproc)}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPHASEGEN_SANITIZE=address,undefined \
  -DPHASEGEN_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$jobs"
# Leak checking is off: LibTorch's operator registries and thread pools live until the process
# exits. Everything else stops the test at the first report.
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd "$build"
ctest -j "$jobs" --output-on-failure ${1:+-R "$1"}
