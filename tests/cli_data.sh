#!/usr/bin/env bash
# phasegen data and compare end to end: every card of cards/ resolves, flags override cards,
# each target writes validated events and a test set, files convert, compare prints its floor.
set -euo pipefail
: "${PHASEGEN:?set PHASEGEN to the phasegen executable}"
: "${CARDS:?set CARDS to the cards directory}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

for card in "$CARDS"/*.toml; do
  if grep -q '^\[data\]' "$card"; then
    "$PHASEGEN" data --card "$card" --dry-run >"$work/resolved" || fail "data dry run of $card"
    grep -q '^target = ' "$work/resolved" || fail "no target in the resolved $card"
    grep -q '^test_out = ' "$work/resolved" || fail "$card has no test set"
  fi
  if grep -q '^\[train\]' "$card"; then
    "$PHASEGEN" train --card "$card" --dry-run >"$work/resolved" || fail "train dry run of $card"
    grep -q '^\[model\]' "$work/resolved" || fail "no [model] in the resolved $card"
  fi
done
"$PHASEGEN" data --card "$CARDS/muon.toml" --dry-run --seed 17 --events 1000 >"$work/resolved"
grep -q '^seed = 17$' "$work/resolved" || fail "--seed did not override the card"
grep -q '^events = 1000$' "$work/resolved" || fail "--events did not override the card"
grep -q '^test_seed = 2$' "$work/resolved" || fail "the card's test_seed was lost"
! grep -q '^msq' "$work/resolved" || fail "a qqg setting leaked into the muon card"
[[ -z $(ls -A "$work" | grep -v resolved) ]] || fail "--dry-run wrote files"

# A card with overrides makes a training and a test set; the card travels in the headers.
"$PHASEGEN" data --card "$CARDS/qqg-msq1e-3.toml" --events 3000 --test-events 2000 \
  --out "$work/qqg.hepmc3" --test-out "$work/qqg-test.lhe" >"$work/summary"
cat "$work/summary"
grep -q "acceptance" "$work/summary" || fail "no acceptance reported"
grep -q "integral .* +- " "$work/summary" || fail "no integral reported"
"$PHASEGEN" inspect "$work/qqg.hepmc3" >"$work/inspect"
grep -q "3000 events of N = 3" "$work/inspect" || fail "training set"
grep -q "card = \[data\]" "$work/inspect" || fail "the resolved card is not in the HepMC3 run info"
grep -q "msq = 0.001" "$work/inspect" || fail "msq is not in the echoed card"
grep -q "2000 events of N = 3" <("$PHASEGEN" inspect "$work/qqg-test.lhe") || fail "test set"
grep -q "<phasegen>" "$work/qqg-test.lhe" || fail "no run info in the LHE header"

for target in "uniform --particles 4" "muon" "aps --particles 6 --xi-max 20" "qqg --msq 1e-2 --symmetrize"; do
  # shellcheck disable=SC2086
  "$PHASEGEN" data --target $target --events 2000 --out "$work/t.pt" >"$work/summary" || fail "data --target $target"
  worst=$(awk '/worst conservation/ { print $NF }' "$work/summary")
  awk -v w="$worst" 'BEGIN { exit !(w <= 1e-12) }' || fail "$target: worst conservation $worst"
done

# Conversion of an event file, then the comparison of two muon sets with the truth floor.
"$PHASEGEN" data --target muon --events 4000 --seed 3 --out "$work/a.pt" >/dev/null
"$PHASEGEN" data --target file --in "$work/a.pt" --out "$work/a.hepmc3" >/dev/null
cmp -s <("$PHASEGEN" inspect "$work/a.pt" | grep "mean sorted") <("$PHASEGEN" inspect "$work/a.hepmc3" | grep "mean sorted") \
  || fail "conversion changed the events"
"$PHASEGEN" data --target muon --events 4000 --seed 4 --out "$work/b.pt" >/dev/null
"$PHASEGEN" compare "$work/a.pt" "$work/b.pt" --floor >"$work/compare"
cat "$work/compare"
grep -q "floor:" "$work/compare" || fail "no floor columns"
grep -q "^u1 " "$work/compare" || fail "no Rosenblatt u1 for N = 3"
grep -q "^thrust " "$work/compare" || fail "no thrust"
grep -q "^<|dE|>/E_med" "$work/compare" || fail "no Table I conservation metric"
echo "1 passed, 0 failed"
