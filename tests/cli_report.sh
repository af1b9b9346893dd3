#!/usr/bin/env bash
# phasegen report: one self-contained HTML page that a headless browser renders with every image
# loaded (the page marks <body data-images-loaded="loaded/total"> once it has loaded).
set -euo pipefail
: "${PHASEGEN:?set PHASEGEN to the phasegen executable}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
browser=$(command -v chromium || command -v chromium-browser || true)
[[ -n $browser ]] || { echo "SKIP: no chromium (scripts/install-deps.sh installs it)"; exit 77; }

"$PHASEGEN" data --target muon --events 4000 --seed 1 --out "$work/truth.pt" >/dev/null
printf '[model]\nhidden = 16\nlayers = 2\ntime_embedding = 8\n[train]\ndata = "%s"\nbatch = 64\nsteps = 30\nvalidate_every = 10\ncheckpoint = "%s"\n' \
  "$work/truth.pt" "$work/tiny.ckpt" >"$work/tiny.toml"
"$PHASEGEN" train --card "$work/tiny.toml" >/dev/null
"$PHASEGEN" sample --checkpoint "$work/tiny.ckpt" --events 500 --nfe 20 --out "$work/s.pt" --trajectory-every 5 \
  --trajectory-out "$work/traj.pt" >/dev/null
"$PHASEGEN" eval --truth "$work/truth.pt" --samples "$work/s.pt" --label tiny --classifier-steps 20 \
  --checkpoint "$work/tiny.ckpt" --trajectory "$work/traj.pt" --out "$work/eval" >/dev/null 2>&1
"$PHASEGEN" report --out "$work/eval" --card "$work/tiny.toml" --title "cli_report test" >"$work/report.log"
cat "$work/report.log"
page="$work/eval/report.html"
[[ -s $page ]] || fail "no report.html"
images=$(ls "$work/eval/plots/"*.png | wc -l)
[[ $images -ge 8 ]] || fail "expected at least 8 figures, found $images"
[[ $(grep -o '<img ' "$page" | wc -l) -eq $images ]] || fail "not every figure is in the page"
# Self-contained: no reference to another file or to the network.
! grep -Eq '(src|href)="(https?:|file:|plots/|[^"#d][^"]*\.png)' "$page" || fail "the page refers to outside files"
grep -q 'headline (tiny): Rosenblatt KS' "$page" || fail "no headline"
grep -q 'resolved run card of' "$page" || fail "no run card of the checkpoint"
grep -q 'steps = 30' "$page" || fail "no --card contents"
# Render it: every image decoded, and a screenshot with content.
cd "$work"
"$browser" --headless --no-sandbox --disable-gpu --user-data-dir="$work/profile" --dump-dom "file://$page" \
  2>/dev/null >"$work/dom.html" || fail "the browser could not open the page"
grep -q "data-images-loaded=\"$images/$images\"" "$work/dom.html" ||
  fail "not every image loaded: $(grep -o 'data-images-loaded="[^"]*"' "$work/dom.html" || echo 'no load mark')"
"$browser" --headless --no-sandbox --disable-gpu --user-data-dir="$work/profile" --window-size=1200,900 \
  --screenshot="$work/shot.png" "file://$page" >/dev/null 2>&1 || fail "no screenshot"
[[ $(stat -c %s "$work/shot.png") -gt 20000 ]] || fail "the screenshot is nearly empty"
echo "cli_report: $images images loaded; all checks passed"
