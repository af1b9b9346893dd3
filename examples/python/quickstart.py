"""phasegen from Python, start to end: muon-decay data, the exact lift to q-space, the RAMBO map of a
perturbed state (still an exact event), a small flow-matching model trained and loaded from its
checkpoint, its samples against an independent truth beside the truth-vs-truth floor.

    PYTHONPATH=build/python python3 examples/python/quickstart.py [CHECKPOINT]

Without a checkpoint it trains a small model first (2000 steps, about 25 s on two CPU cores), which
lands a few times above the truth floor; the project's muon cards (cards/muon-flow-ot-cpu.toml,
hours) come down to it. Files go to out/quickstart (or $PHASEGEN_QUICKSTART_DIR).
"""

import os
import sys

import phasegen  # before torch runs any kernel: the command line's CPU kernels, its numbers exactly
import torch

out = os.environ.get("PHASEGEN_QUICKSTART_DIR", os.path.join("out", "quickstart"))
os.makedirs(out, exist_ok=True)

# 1. Data: exact muon-decay events (the same as `phasegen data --target muon --seed 1`).
train_events = phasegen.targets.muon(20000, seed=1)
truth = phasegen.targets.muon(40000, seed=2)
train_file = os.path.join(out, "muon-train.pt")
phasegen.write_events(train_file, train_events, pdg_ids=[11, 14, -12],
                      run={"description": "muon decay, quickstart", "seed": 1})
print("muon data      %d training and %d truth events, worst conservation violation %.1e"
      % (len(train_events), len(truth), phasegen.conservation_violation(train_events).max()))

# 2. The exact lift: a random point of each event's fibre; the map takes the states back to the events.
q = phasegen.lift_to_qspace(train_events, seed=3)
print("lifted         states %s, |rambo_map(lift(p)) - p| <= %.1e"
      % (list(q.shape), (phasegen.rambo_map(q, 1.0) - train_events).abs().max()))

# 3. Any state is an exact event: perturb the states by 30% noise and map them again.
noisy = q + 0.3 * q.abs().mean() * torch.randn(q.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
p = phasegen.rambo_map(noisy, 1.0)
print("perturbed      rambo_map of noisy states: conservation %.1e, mass %.1e (relative to sqrt_s)"
      % (phasegen.conservation_violation(p).max(), phasegen.mass_violation(p).max()))

# 4. A model: the given checkpoint, or a small flow from uniform phase space trained here.
if len(sys.argv) > 1:
    checkpoint = sys.argv[1]
else:
    checkpoint = os.path.join(out, "muon-flow.ckpt")
    phasegen.train(settings={
        "kind": "flow", "prior": "rambo", "coupling": "ot", "network": "mlp", "hidden": 128, "layers": 3,
        "nfe": 20, "data": train_file, "checkpoint": checkpoint, "batch": 512, "steps": 2000, "lr": 2e-3,
        "warmup": 100, "ema": 0.995, "validate_every": 500, "checkpoint_every": 2000, "seed": 5, "workers": 1})
model = phasegen.Model.load(checkpoint)
print("trained        %s (step %d)" % (model.description(), model.origin["step"]))

# 5. Sample it (the same events as `phasegen sample --checkpoint ... --seed 6`) and judge them.
samples = model.sample(10000, seed=6)
print("sampled        %d events, worst conservation violation %.1e"
      % (len(samples), phasegen.conservation_violation(samples).max()))
table = phasegen.compare(truth, samples, names=["E_1", "E_2", "E_3", "u2"])
print(phasegen.format_comparison(table, "ks").replace("ks ", "KS ", 1))
flat = phasegen.compare(truth, phasegen.sample_uniform_phase_space(10000, 3, 1.0, seed=7), names=["E_3"])
print("flat phase space for scale: KS(E_3) %.4f against its floor %.4f"
      % (flat["E_3"]["model"]["ks"], flat["E_3"]["floor"]["ks"]))
