#!/usr/bin/env bash
# Sharded sampling (sample --shard i/n) and phasegen merge: reproducible, independent shards that
# share out the run's events, joined in shard order with the run's information; every mismatch
# refused with one line, exit 2 and no output.
set -euo pipefail
: "${PHASEGEN:?set PHASEGEN to the phasegen executable}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$PHASEGEN" data --target muon --events 2000 --out "$work/muon.pt" >/dev/null
"$PHASEGEN" train --data "$work/muon.pt" --kind flow --steps 20 --batch 64 --checkpoint "$work/flow.ckpt" >/dev/null
shard() {  # shard I SEED EXT...: shard I of 3 of a 1000-event run into $work/sI-SEED.EXT
  local i=$1 seed=$2
  shift 2
  local outs=() ext
  for ext in "$@"; do outs+=(--out "$work/s$i-$seed.$ext"); done
  "$PHASEGEN" sample --checkpoint "$work/flow.ckpt" --events 1000 --seed "$seed" --shard "$i/3" --workers 1 "${outs[@]}" \
    >"$work/s$i-$seed.log"
}
for i in 1 2 3; do shard "$i" 4 hepmc3 lhe pt; done
grep -q "333 events .* seed 4, shard 1 of 3 (of 1000 events" "$work/s1-4.log" || fail "shard 1: $(cat "$work/s1-4.log")"
grep -q "334 events .* shard 3 of 3" "$work/s3-4.log" || fail "shard 3: $(cat "$work/s3-4.log")"

# Reproducible: shard 2 again, byte for byte. Independent: no event of one shard in another.
cp "$work/s2-4.hepmc3" "$work/first-s2.hepmc3"
shard 2 4 hepmc3
cmp -s "$work/s2-4.hepmc3" "$work/first-s2.hepmc3" || fail "shard 2 is not reproducible"
particles() { grep -h '^P .* 1$' "$@" | cut -d' ' -f3-; }  # outgoing particles' lines without their ids
shared=$(sort <(particles "$work/s1-4.hepmc3" | sort -u) <(particles "$work/s2-4.hepmc3" | sort -u) | uniq -d | wc -l)
[[ $shared -eq 0 ]] || fail "$shared particles appear in shards 1 and 2"

# Merged in shard order whatever the order given, from any format into any format.
"$PHASEGEN" merge "$work/s3-4.hepmc3" "$work/s1-4.hepmc3" "$work/s2-4.hepmc3" --out "$work/m.hepmc3" \
  --out "$work/m.pt" >"$work/merge.log"
grep -q "phasegen merge: 1000 events from 3 shards" "$work/merge.log" || fail "merge: $(cat "$work/merge.log")"
[[ "$(particles "$work/s1-4.hepmc3" "$work/s2-4.hepmc3" "$work/s3-4.hepmc3")" == \
   "$(particles "$work/m.hepmc3")" ]] || fail "the merged events are not the shards' in shard order"
"$PHASEGEN" merge "$work/s2-4.lhe" "$work/s1-4.lhe" "$work/s3-4.lhe" --out "$work/ml.hepmc3" >/dev/null
"$PHASEGEN" merge "$work/s1-4.pt" "$work/s2-4.pt" "$work/s3-4.pt" --out "$work/mp.hepmc3" >/dev/null
for other in ml mp; do
  [[ "$(particles "$work/m.hepmc3")" == "$(particles "$work/$other.hepmc3")" ]] ||
    fail "$other: merging the shards' other formats gave other events"
done
"$PHASEGEN" inspect "$work/m.pt" >"$work/inspect.txt"
for line in "1000 events of N = 3" "seed                4" "merged_shards = 3" "shard_events = 333 333 334" \
            "events = 1000" "command = sample"; do
  grep -qF "$line" "$work/inspect.txt" || fail "merged run information lacks '$line': $(cat "$work/inspect.txt")"
done

# Refused: one line, exit 2, no output.
shard 3 5 hepmc3  # another run (seed 5)
"$PHASEGEN" sample --checkpoint "$work/flow.ckpt" --events 1000 --seed 4 --out "$work/whole.hepmc3" >/dev/null
expect_refused() {
  local pattern=$1 status=0
  shift
  "$PHASEGEN" "$@" --out "$work/bad.hepmc3" >/dev/null 2>"$work/err" || status=$?
  [[ $status -eq 2 && $(wc -l <"$work/err") -eq 1 ]] || fail "$*: exit $status: $(cat "$work/err")"
  grep -qF -- "$pattern" "$work/err" || fail "$*: $(cat "$work/err")"
  [[ -z $(find "$work" -maxdepth 1 -name 'bad*') ]] || fail "$*: left an output"
}
expect_refused "shard 2 of 3 missing" merge "$work/s1-4.hepmc3" "$work/s3-4.hepmc3"
expect_refused "shard 1/3 is given twice" merge "$work/s1-4.hepmc3" "$work/s1-4.lhe" "$work/s2-4.hepmc3" "$work/s3-4.hepmc3"
expect_refused "is not of the same run as" merge "$work/s1-4.hepmc3" "$work/s2-4.hepmc3" "$work/s3-5.hepmc3"
expect_refused "is not a shard of a sampling run" merge "$work/s1-4.hepmc3" "$work/whole.hepmc3"
expect_refused "--shard: expected i/n with 1 <= i <= n" sample --checkpoint "$work/flow.ckpt" --shard 4/3
expect_refused "--shard: expected i/n with 1 <= i <= n" sample --checkpoint "$work/flow.ckpt" --shard 0/3
expect_refused "--shard: expected i/n with 1 <= i <= n" sample --checkpoint "$work/flow.ckpt" --shard 1/3x
expect_refused "cannot fill 3 shards" sample --checkpoint "$work/flow.ckpt" --events 2 --shard 1/3
echo "cli_shards: 3 shards reproducible and disjoint, merged in shard order from every format with the run information; mismatches refused"
