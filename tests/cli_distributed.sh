#!/usr/bin/env bash
# Training on two processes (torchrun's and Slurm's variables, Gloo on 127.0.0.1), as a user runs it:
# the same model as one process with the combined batch, one report and one checkpoint (rank 0's),
# clear errors when a rank is missing or dies, and kill -9 of both followed by --resume.
set -euo pipefail
: "${PHASEGEN:?set PHASEGEN to the phasegen executable}"
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
# Rendezvous ports below Linux's ephemeral range (32768-60999), where the processes' own
# connections (and those of earlier runs, in TIME_WAIT) take theirs.
port=$((20000 + RANDOM % 12000))
export MASTER_ADDR=127.0.0.1 PHASEGEN_DISTRIBUTED_TIMEOUT=60

"$PHASEGEN" data --target muon --events 3000 --out "$work/muon.pt" >/dev/null
cat >"$work/tiny.toml" <<CARD
[model]
network = "mlp"
hidden = 32
layers = 2
time_embedding = 8
divergence = "hutchinson"
[train]
data = "$work/muon.pt"
steps = 40
checkpoint_every = 10
validate_every = 10
seed = 4
CARD

# ranks NAME EXTRA-ENV... -- ARGS...: starts rank 0 and rank 1 of two (torchrun's variables, or
# Slurm's with EXTRA-ENV slurm), logs in $work/NAME-RANK.out/.err, and waits for both.
ranks() {
  local name=$1 kind=$2
  shift 2
  port=$((port + 1))
  local rank
  pids=()
  for rank in 0 1; do
    if [[ $kind == slurm ]]; then
      env -u WORLD_SIZE -u RANK SLURM_PROCID=$rank SLURM_NTASKS=2 SLURM_LOCALID=$rank SLURM_NTASKS_PER_NODE=2 \
        MASTER_PORT=$port "$PHASEGEN" train "$@" >"$work/$name-$rank.out" 2>"$work/$name-$rank.err" &
    else
      RANK=$rank WORLD_SIZE=2 LOCAL_WORLD_SIZE=2 MASTER_PORT=$port \
        "$PHASEGEN" train "$@" >"$work/$name-$rank.out" 2>"$work/$name-$rank.err" &
    fi
    pids+=($!)
  done
}
wait_ranks() {
  local name=$1 rank=0 pid
  for pid in "${pids[@]}"; do
    wait "$pid" || fail "$name: rank $rank failed: $(cat "$work/$name-$rank.err")"
    rank=$((rank + 1))
  done
  pids=()
}

# Two processes of batch 64 against one of batch 128 whose two worker parts are their shares:
# the same weights, so the same sampled events, byte for byte.
ranks two torchrun --card "$work/tiny.toml" --batch 64 --workers 1 --checkpoint "$work/two.ckpt"
wait_ranks two
"$PHASEGEN" train --card "$work/tiny.toml" --batch 128 --workers 2 --checkpoint "$work/one.ckpt" >"$work/one.out"
grep -q "processes           2 (torchrun variables, Gloo rendezvous at 127.0.0.1:$port), batch 64 each, 128 per step" \
  "$work/two-0.out" || fail "rank 0 does not report the processes: $(cat "$work/two-0.out")"
[[ ! -s $work/two-1.out ]] || fail "rank 1 printed: $(cat "$work/two-1.out")"
grep -q "finished at step 40" "$work/two-0.out" || fail "rank 0 did not finish: $(cat "$work/two-0.out")"
[[ $(grep "last loss" "$work/two-0.out") == $(grep "last loss" "$work/one.out") ]] ||
  fail "losses differ: $(grep "last loss" "$work/two-0.out") / $(grep "last loss" "$work/one.out")"
for run in one two; do
  "$PHASEGEN" sample --checkpoint "$work/$run.ckpt" --events 500 --seed 9 --out "$work/$run-events.hepmc3" >/dev/null
  grep '^P ' "$work/$run-events.hepmc3" >"$work/$run-particles.txt"  # the events, not the run information
done
cmp -s "$work/one-particles.txt" "$work/two-particles.txt" || fail "two processes and one sample different events"

# Slurm's variables (srun) work the same way.
ranks slurm slurm --card "$work/tiny.toml" --steps 10 --batch 64 --checkpoint "$work/slurm.ckpt"
wait_ranks slurm
grep -q "processes           2 (Slurm variables" "$work/slurm-0.out" || fail "slurm: $(cat "$work/slurm-0.out")"

# A rank alone: one line naming the rendezvous after the timeout, exit 2, no checkpoint.
port=$((port + 1))
status=0
RANK=1 WORLD_SIZE=2 MASTER_PORT=$port PHASEGEN_DISTRIBUTED_TIMEOUT=2 \
  "$PHASEGEN" train --card "$work/tiny.toml" --checkpoint "$work/alone.ckpt" >/dev/null 2>"$work/alone.err" || status=$?
[[ $status -eq 2 && $(wc -l <"$work/alone.err") -eq 1 ]] || fail "alone: exit $status: $(cat "$work/alone.err")"
grep -q "rank 1 of 2: the processes did not all meet at 127.0.0.1:$port within 2 s" "$work/alone.err" ||
  fail "alone: $(cat "$work/alone.err")"
[[ ! -e $work/alone.ckpt ]] || fail "alone: a checkpoint was written"

# Rank 0 waiting for a rank that never starts (a Slurm batch script without srun, say): after a few
# seconds it says where and for what it waits, and Ctrl-C ends the wait at once with exit 130.
port=$((port + 1))
env -u WORLD_SIZE -u RANK SLURM_PROCID=0 SLURM_NTASKS=2 MASTER_PORT=$port \
  "$PHASEGEN" train --card "$work/tiny.toml" --checkpoint "$work/waits.ckpt" >"$work/waits.out" 2>"$work/waits.err" &
pids=($!)
for _ in $(seq 1 300); do
  grep -q "waiting" "$work/waits.err" && break
  sleep 0.1
done
grep -q "phasegen: rank 0 of 2: waiting at 127.0.0.1:$port for the other 1 rank(s) to start (Slurm variables; up to 60 s; srun" \
  "$work/waits.err" || fail "waiting rank 0 does not say so: $(cat "$work/waits.err")"
kill -INT "${pids[0]}"
status=0
wait "${pids[0]}" || status=$?
pids=()
[[ $status -eq 130 ]] || fail "Ctrl-C while waiting: exit $status: $(cat "$work/waits.err")"
grep -q "phasegen: rank 0 of 2: interrupted while waiting for the other processes" "$work/waits.err" ||
  fail "Ctrl-C while waiting: $(cat "$work/waits.err")"
[[ ! -s $work/waits.out && ! -e $work/waits.ckpt ]] || fail "Ctrl-C while waiting: output or checkpoint written"

# A rank killed: the other stops at its next all-reduce with one line, exit 2.
ranks dies torchrun --card "$work/tiny.toml" --steps 100000 --batch 64 --checkpoint "$work/dies.ckpt"
for _ in $(seq 1 600); do
  [[ -f $work/dies.ckpt ]] && break
  sleep 0.1
done
kill -9 "${pids[1]}"
status=0
wait "${pids[0]}" || status=$?
pids=()
[[ $status -eq 2 ]] || fail "rank 0 after rank 1 died: exit $status: $(cat "$work/dies-0.err")"
grep -q "rank 0 of 2: an all-reduce failed; another process stopped" "$work/dies-0.err" ||
  fail "rank 0 after rank 1 died: $(cat "$work/dies-0.err")"

# Ctrl-C (SIGINT, as torchrun forwards it) to both: they stop after the same step, exit 130, and
# rank 0 writes the checkpoint of that step.
ranks interrupted torchrun --card "$work/tiny.toml" --steps 100000 --batch 64 --checkpoint "$work/int.ckpt"
for _ in $(seq 1 600); do
  [[ -f $work/int.ckpt ]] && break
  sleep 0.1
done
kill -INT "${pids[@]}"
for rank in 0 1; do
  status=0
  wait "${pids[$rank]}" || status=$?
  [[ $status -eq 130 ]] || fail "interrupted rank $rank: exit $status: $(cat "$work/interrupted-$rank.err")"
done
pids=()
at0=$(sed -n "s/.*interrupted at step \([0-9]*\); checkpoint written.*/\1/p" "$work/interrupted-0.err")
at1=$(sed -n "s/.*rank 1: interrupted at step \([0-9]*\).*/\1/p" "$work/interrupted-1.err")
[[ -n $at0 && $at0 == "$at1" ]] || fail "interrupted at different steps: $(cat "$work"/interrupted-*.err)"
"$PHASEGEN" sample --checkpoint "$work/int.ckpt" --events 10 --out "$work/i.pt" >"$work/i.log" 2>&1
grep -q "(step $at0" "$work/i.log" || fail "the checkpoint is not of step $at0: $(cat "$work/i.log")"

# kill -9 of both after a checkpoint, then --resume on both: the run completes.
ranks killed torchrun --card "$work/tiny.toml" --steps 100000 --batch 64 --checkpoint "$work/killed.ckpt"
for _ in $(seq 1 600); do
  [[ -f $work/killed.ckpt ]] && break
  sleep 0.1
done
[[ -f $work/killed.ckpt ]] || fail "no checkpoint within a minute"
sleep 1
kill -9 "${pids[@]}"
pids=()
"$PHASEGEN" sample --checkpoint "$work/killed.ckpt" --events 10 --out "$work/k.pt" >"$work/k.log" 2>&1 ||
  fail "the checkpoint after kill -9 does not open: $(cat "$work/k.log")"
step=$(sed -n "s/.* from '.*' (step \([0-9]*\).*/\1/p" "$work/k.log")
[[ -n $step && $step -ge 10 ]] || fail "no step in: $(cat "$work/k.log")"
total=$((step + 30))
ranks resumed torchrun --card "$work/tiny.toml" --steps "$total" --batch 64 --checkpoint "$work/killed.ckpt" --resume
wait_ranks resumed
grep -q "resuming at step $step" "$work/resumed-0.out" || fail "resume: $(cat "$work/resumed-0.out")"
grep -q "finished at step $total" "$work/resumed-0.out" || fail "resume: $(cat "$work/resumed-0.out")"
echo "cli_distributed: 2 processes = 1 process with both batches; Slurm variables; lone and dead ranks refused; killed at step >= $step, resumed to $total"
