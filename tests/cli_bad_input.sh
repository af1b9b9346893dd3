#!/usr/bin/env bash
# Bad input to the command line: one clear line on stderr, exit code 2, no output file left,
# not even a temporary one.
set -u
: "${PHASEGEN:?set PHASEGEN to the phasegen executable}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out="$work/out"
mkdir -p "$out"
failures=0

# expect_failure PATTERN ARGS...: exit code 2, exactly one stderr line containing PATTERN,
# nothing written to $out.
expect_failure() {
  local pattern=$1
  shift
  local err="$work/stderr" code lines
  "$PHASEGEN" "$@" >"$work/stdout" 2>"$err" </dev/null
  code=$?
  lines=$(wc -l <"$err")
  if [[ $code -ne 2 || $lines -ne 1 ]] || ! grep -qF -- "$pattern" "$err" || [[ -n $(ls -A "$out") ]]; then
    echo "FAIL: phasegen $* -> exit $code, $lines stderr line(s), files: $(ls -A "$out" | tr '\n' ' ')"
    sed 's/^/    stderr: /' "$err"
    failures=$((failures + 1))
  else
    echo "ok:   phasegen $* -> $(cat "$err")"
  fi
  rm -rf "${out:?}"/* "$out"/.[!.]* 2>/dev/null
}

expect_failure "--particles: expected N >= 2" phasespace --particles 1 --out "$out/e.pt"
expect_failure "--events: expected a positive number of events, but got -5" phasespace --events -5 --out "$out/e.pt"
expect_failure "--sqrt-s: expected a positive, finite total energy in GeV, but got 0" phasespace --sqrt-s 0 --out "$out/e.pt"
expect_failure "--sqrt-s: expected a positive, finite total energy" phasespace --sqrt-s nan --out "$out/e.pt"
expect_failure "--sqrt-s" phasespace --sqrt-s abc --out "$out/e.pt"
expect_failure "expected .pt, .hepmc3 (or .hepmc) or .lhe" phasespace --out "$out/e.root"
expect_failure "expected .pt, .hepmc3 (or .hepmc) or .lhe" phasespace --out "$out/e.pt" --out "$out/e.txt"
expect_failure "cannot write '$out/missing/e.pt': No such file or directory" phasespace --out "$out/missing/e.pt"
expect_failure "cannot write '/proc/e.hepmc3'" phasespace --out /proc/e.hepmc3
expect_failure "--out is required" phasespace
expect_failure "expected 1 or 5 PDG ids" phasespace --pdg 1 2 --out "$out/e.lhe"
expect_failure "--foo" phasespace --foo --out "$out/e.pt"
expect_failure "--threads: expected a thread count >= 0" --threads -1 phasespace --out "$out/e.pt"
expect_failure "subcommand" 
expect_failure "no such file" inspect "$work/absent.hepmc3"

# Damaged and non-physical event files.
"$PHASEGEN" phasespace --particles 3 --events 50 --sqrt-s 10 --out "$work/good.lhe" --out "$work/good.hepmc3" \
  --out "$work/good.pt" >/dev/null || { echo "FAIL: could not make the input files"; exit 1; }
for f in good.lhe good.hepmc3 good.pt; do
  size=$(stat -c %s "$work/$f")
  head -c $((size / 2)) "$work/$f" >"$work/cut-$f"
  expect_failure "cut-$f" inspect "$work/cut-$f"
done
# A massive particle in event 3: the first outgoing particle of the third event gains energy.
awk '/<event>/ { e++; n = 0 } { if (e == 3 && NF == 13 && $2 == "1" && n == 0) { n = 1; $10 = sprintf("%.17g", $10 + 0.5) } print }' \
  "$work/good.lhe" >"$work/massive.lhe"
expect_failure "massive.lhe': event 3, particle 1: expected a massless particle" inspect "$work/massive.lhe"
# The first outgoing px of every event replaced: E no longer equals |p|.
sed 's/^\(P 3 -1 22\) \([^ ]*\)/\1 1.0e+00/' "$work/good.hepmc3" >"$work/edited.hepmc3"
expect_failure "edited.hepmc3': event 1, particle 1: expected a massless particle" inspect "$work/edited.hepmc3"
expect_failure "--tolerance: expected a positive tolerance" inspect "$work/good.pt" --tolerance -1

# The data sets and run cards.
expect_failure "unknown target 'higgs': expected uniform, muon, qqg, aps or file" data --target higgs --out "$out/e.pt"
expect_failure "msq: expected a cut 0 < msq < 1/3 on s_ij/s, but got 0.5" data --target qqg --msq 0.5 --out "$out/e.pt"
expect_failure "msq: expected a cut 0 < msq < 1/3 on s_ij/s, but got 0" data --target qqg --msq 0 --out "$out/e.pt"
expect_failure "xi_max: expected xi_max > 1, but got 1" data --target aps --xi-max 1 --out "$out/e.pt"
expect_failure "particles: expected N >= 3 for the APS target, but got 2" data --target aps --particles 2 --out "$out/e.pt"
expect_failure "test_seed: expected a seed other than seed = 1" data --target muon --out "$out/e.pt" --test-out "$out/t.pt" --test-seed 1
printf '[data]\ntarget = "muon"\nevnts = 100\n' >"$work/unknown.toml"
expect_failure "unknown.toml:3: unknown key 'evnts' in [data]" data --card "$work/unknown.toml" --out "$out/e.pt"
printf '[data]\ntarget = "muon"\n\nevents = "many"\n' >"$work/wrongtype.toml"
expect_failure "wrongtype.toml:4: key 'events' in [data] expects an integer, but got a string" data --card "$work/wrongtype.toml" --out "$out/e.pt"
printf '[data]\ntarget = \n' >"$work/broken.toml"
expect_failure "broken.toml:2: malformed run card" data --card "$work/broken.toml" --out "$out/e.pt"
expect_failure "cannot read run card" data --card "$work/absent.toml" --out "$out/e.pt"
expect_failure "massive.lhe': event 3, particle 1: expected a massless particle" data --target file --in "$work/massive.lhe" --out "$out/e.pt"
"$PHASEGEN" phasespace --particles 4 --events 20 --out "$work/four.pt" >/dev/null
expect_failure "has events of N = 4 particles, but the truth" compare "$work/good.pt" "$work/four.pt"
"$PHASEGEN" phasespace --particles 3 --events 20 --sqrt-s 20 --out "$work/twenty.pt" >/dev/null
expect_failure "has sqrt_s = 20 GeV, but the truth" compare "$work/good.pt" "$work/twenty.pt"
expect_failure "--observables: unknown observable 'E_7' for N = 3" compare "$work/good.pt" "$work/good.pt" --observables E_7
# eval: the same checks, and nothing created under --out before the inputs are read.
"$PHASEGEN" phasespace --particles 3 --events 200 --out "$work/truth200.pt" >/dev/null
: >"$work/empty.pt"
expect_failure "has events of N = 4 particles, but the truth" eval --truth "$work/truth200.pt" --samples "$work/four.pt" --out "$out/ev"
expect_failure "has sqrt_s = 20 GeV, but the truth" eval --truth "$work/truth200.pt" --samples "$work/twenty.pt" --out "$out/ev"
expect_failure "empty.pt' is not a readable .pt tensor file" eval --truth "$work/truth200.pt" --samples "$work/empty.pt" --out "$out/ev"
expect_failure "empty.pt' is not a readable .pt tensor file" eval --truth "$work/empty.pt" --samples "$work/truth200.pt" --out "$out/ev"
expect_failure "--observables: unknown observable 'E_7' for N = 3" eval --truth "$work/truth200.pt" --samples "$work/truth200.pt" --out "$out/ev" --observables E_7
expect_failure "--label: expected one label per --samples (1), but got 2" eval --truth "$work/truth200.pt" --samples "$work/truth200.pt" --label a --label b --out "$out/ev"
expect_failure "expected at least 80 truth events" eval --truth "$work/twenty.pt" --samples "$work/twenty.pt" --out "$out/ev"
expect_failure "--samples is required" eval --truth "$work/truth200.pt" --out "$out/ev"
expect_failure "report: '$out/none' is not a directory (run \`phasegen eval --out $out/none\` first)" report --out "$out/none"
mkdir -p "$work/noeval"
expect_failure "report: '$work/noeval/eval.txt' is missing" report --out "$work/noeval"

# Training and sampling.
"$PHASEGEN" data --target muon --events 300 --out "$work/muon.pt" >/dev/null
printf '[model]\nnetwork = "resnet"\n[train]\ndata = "%s"\ncheckpoint = "%s"\n' "$work/muon.pt" "$out/m.ckpt" >"$work/resnet.toml"
expect_failure "network: unknown network 'resnet': expected mlp or transformer" train --card "$work/resnet.toml"
expect_failure "schedule: unknown schedule 'cosine': expected paper or extended" train --card "$work/resnet.toml" --network mlp --schedule cosine
printf '[model]\nnetwork = "mlp"\nwidth = 3\n' >"$work/width.toml"
expect_failure "width.toml:3: unknown key 'width' in [model]" train --card "$work/width.toml"
expect_failure "batch: expected a batch of at most the 285 training events" train --data "$work/muon.pt" --checkpoint "$out/m.ckpt" --batch 1024 --steps 5
expect_failure "no such file" sample --checkpoint "$work/absent.ckpt" --out "$out/s.pt"
expect_failure "is not a readable checkpoint" sample --checkpoint "$work/muon.pt" --out "$out/s.pt"
printf '[model]\nhidden = 8\nlayers = 1\n[train]\nbatch = 64\nsteps = 2\n' >"$work/small.toml"
"$PHASEGEN" train --card "$work/small.toml" --data "$work/muon.pt" --checkpoint "$work/small.ckpt" >/dev/null
head -c 2000 "$work/small.ckpt" >"$work/cut.ckpt"
expect_failure "cut.ckpt' is not a readable checkpoint (truncated or corrupt?)" sample --checkpoint "$work/cut.ckpt" --out "$out/s.pt"
printf '[model]\nhidden = 9\nlayers = 1\n[train]\nbatch = 64\nsteps = 4\n' >"$work/other.toml"
cp "$work/small.ckpt" "$work/other.ckpt"
# A checkpoint of phasegen 0.1 (format 1, tests/data/format1.ckpt) is refused with one line.
expect_failure "was written by an older phasegen (phasegen-checkpoint-1, version 0.1)" sample --checkpoint "$(dirname "$0")/data/format1.ckpt" --out "$out/s.pt"
expect_failure "was written by an older phasegen" train --data "$work/muon.pt" --checkpoint "$(dirname "$0")/data/format1.ckpt" --resume --steps 5
expect_failure "is from another model: its network differs" train --card "$work/other.toml" --data "$work/muon.pt" --checkpoint "$work/other.ckpt" --resume
printf '[model]\nkind = "flow"\nprior = "laplace"\n' >"$work/laplace.toml"
expect_failure "prior: unknown prior 'laplace': expected rambo, gaussian (fitted to the lifted data), latent (N(0, I) in z-space), dalitz (N = 3, the Dalitz plane) or chain" train --card "$work/laplace.toml" --data "$work/muon.pt" --checkpoint "$out/f.ckpt"
printf '[model]\nkind = "flow"\nprior_law = "logistic"\n' >"$work/law.toml"
expect_failure "prior_law = logistic: expected prior = dalitz" train --card "$work/law.toml" --data "$work/muon.pt" --checkpoint "$out/f.ckpt"
printf '[model]\nkind = "flow"\nsolver = "rk4"\nnfe = 3\n' >"$work/nfe.toml"
expect_failure "nfe: expected at least 4 evaluations for rk4, but got 3" train --card "$work/nfe.toml" --data "$work/muon.pt" --checkpoint "$out/f.ckpt"
expect_failure "--solver applies to flow models, but '$work/small.ckpt' holds a langevin model" sample --checkpoint "$work/small.ckpt" --out "$out/s.pt" --solver rk4
expect_failure "sampler: expected em or heun for a Langevin model, but got 'ddim'" sample --checkpoint "$work/small.ckpt" --out "$out/s.pt" --sampler ddim
expect_failure "nfe: expected 1 to 500 evaluations (the schedule's T), but got 501" sample --checkpoint "$work/small.ckpt" --out "$out/s.pt" --nfe 501
expect_failure "device: expected auto, cpu or cuda, but got 'gpu'" sample --checkpoint "$work/small.ckpt" --out "$out/s.pt" --device gpu
expect_failure "device: expected auto, cpu or cuda, but got 'tpu'" train --card "$work/small.toml" --data "$work/muon.pt" --checkpoint "$out/m.ckpt" --device tpu
if ! nvidia-smi -L >/dev/null 2>&1; then  # where no GPU can be seen, asking for one is refused up front
  expect_failure "device = cuda: " train --card "$work/small.toml" --data "$work/muon.pt" --checkpoint "$out/m.ckpt" --device cuda
  expect_failure "device = cuda: " sample --checkpoint "$work/small.ckpt" --out "$out/s.pt" --device cuda
fi
printf '[model]\nkind = "gan"\n' >"$work/gan.toml"
expect_failure "kind: unknown model 'gan': expected langevin, flow, vp, pflow or pddpm" train --card "$work/gan.toml" --data "$work/muon.pt" --checkpoint "$out/f.ckpt"
printf '[model]\nkind = "vp"\nsampler = "euler"\n' >"$work/vpsampler.toml"
expect_failure "sampler: unknown sampler 'euler': expected ddpm, ddim, heun or dpmpp2m" train --card "$work/vpsampler.toml" --data "$work/muon.pt" --checkpoint "$out/f.ckpt"
printf '[model]\nkind = "flow"\nprior = "gaussian"\ncoupling = "fibre"\n' >"$work/coupling.toml"
expect_failure "coupling = fibre: expected the rambo or latent prior" train --card "$work/coupling.toml" --data "$work/muon.pt" --checkpoint "$out/f.ckpt"
printf '[model]\nkind = "flow"\ntime_law = "late"\n' >"$work/timelaw.toml"
expect_failure "time_law: expected uniform, data or noise, but got 'late'" train --card "$work/timelaw.toml" --data "$work/muon.pt" --checkpoint "$out/f.ckpt"
printf '[model]\nkind = "vp"\nfeatures = "momenta"\n' >"$work/features.toml"
expect_failure "features: unknown features 'momenta': expected none, event or invariants" train --card "$work/features.toml" --data "$work/muon.pt" --checkpoint "$out/f.ckpt"
printf '[model]\nkind = "vp"\nschedule = "extended"\n' >"$work/vpschedule.toml"
expect_failure "schedule: unknown VP schedule 'extended': expected linear or paper" train --card "$work/vpschedule.toml" --data "$work/muon.pt" --checkpoint "$out/f.ckpt"
expect_failure "cannot write '$work/nodir/m.ckpt': No such file or directory" train --card "$work/small.toml" --data "$work/muon.pt" --checkpoint "$work/nodir/m.ckpt"
expect_failure "--trajectory-every needs --trajectory-out" sample --checkpoint "$work/small.ckpt" --out "$out/s.pt" --trajectory-every 10

# An interrupt stops the run with exit code 130 (as in every command) and leaves nothing behind.
"$PHASEGEN" phasespace --events 2000000000 --out "$out/long.lhe" >"$work/stdout" 2>"$work/stderr" &
pid=$!
# Signalled once its output is open (the handler is installed before that): a loaded machine may
# take seconds to start it.
for ((i = 0; i < 300; i++)); do [[ -n $(ls -A "$out") ]] && break; sleep 0.1; done
sleep 0.5
kill -INT $pid
wait $pid
code=$?
if [[ $code -ne 130 ]] || ! grep -q "interrupted after" "$work/stderr" || [[ -n $(ls -A "$out") ]]; then
  echo "FAIL: interrupt -> exit $code, files: $(ls -A "$out" | tr '\n' ' ')"
  cat "$work/stderr"
  failures=$((failures + 1))
else
  echo "ok:   interrupt -> $(cat "$work/stderr")"
fi

if ((failures > 0)); then
  echo "$failures case(s) failed"
  exit 1
fi
echo "all bad-input cases give one line and exit code 2"
