#!/usr/bin/env bash
# Installs every Debian package phasegen needs to build, test and run, or with arguments those
# packages (scripts/fuzz.sh asks for clang's). Idempotent: it asks apt only for what is missing, so a
# machine that has everything is left untouched.
#
# usage: scripts/install-deps.sh [PACKAGE...]
set -euo pipefail

packages=(
  cmake g++ make git pkg-config
  libtorch-dev libopenblas0-pthread libgloo-dev
  libhepmc3-dev libcli11-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  gnuplot-nox python3 python3-torch python3-dev pybind11-dev python3-pytest python3-setuptools python3-pip
  chromium
)
(($# == 0)) || packages=("$@")

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}"
