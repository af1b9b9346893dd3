#!/usr/bin/env bash
# The Python module installed as a user installs it: `pip install --no-build-isolation .` into a new
# virtual environment that sees Debian's torch, then imported from outside the source tree and used
# (events made, mapped, checked). Reuses the build in build/ (or PHASEGEN_BUILD_DIR) as pip does.
#
# usage: scripts/python-install-check.sh      Environment: PYTHON (default /usr/bin/python3)
set -euo pipefail
python=${PYTHON:-/usr/bin/python3}
cd "$(dirname "$0")/.."
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
"$python" -m venv --system-site-packages --without-pip "$venv"
"$venv/bin/python" -m pip install --no-build-isolation --quiet . 
cd "$venv"
"$venv/bin/python" - <<'PY'
import phasegen
p = phasegen.rambo_map(phasegen.sample_rambo_prior(1000, 4, seed=1), 91.2)
worst = float(phasegen.conservation_violation(p).max())
assert phasegen.__file__.startswith(__import__("sys").prefix), phasegen.__file__
assert worst < 1e-14, worst
print("python-install-check: phasegen", phasegen.__version__, "from", phasegen.__file__, "- worst violation %.1e" % worst)
PY
