"""Trained models from Python: bit-identical to `phasegen sample` for the same seed and settings,
every intermediate state an exact event, sampler settings replaced, exact densities and weights."""

import math

import pytest
import torch

import phasegen
from conftest import max_violation, run_cli


def test_sample_is_the_command_lines(work, flow_checkpoint, langevin_checkpoint):
    for checkpoint, extra in [(flow_checkpoint, {}), (flow_checkpoint, {"nfe": 4, "solver": "euler"}),
                              (langevin_checkpoint, {"nfe": 10})]:
        model = phasegen.Model.load(str(checkpoint))
        flags = []
        for key, value in extra.items():
            flags += ["--" + key, value]
        for workers in (1, 2):
            out = work / "cli-samples.pt"
            run_cli("sample", "--checkpoint", checkpoint, "--events", 700, "--seed", 11, "--batch", 300,
                    "--workers", workers, "--out", out, *flags)
            cli = phasegen.read_events(str(out)).momenta
            mine = model.sample(700, seed=11, batch=300, workers=workers, **extra)
            assert torch.equal(cli, mine), (checkpoint.name, extra, workers)
            assert max_violation(mine) < 1e-14


def test_model_properties(flow_checkpoint, langevin_checkpoint):
    model = phasegen.Model.load(str(flow_checkpoint))
    assert model.kind == "flow" and model.particles == 3 and model.sqrt_s == pytest.approx(1.0)
    assert model.conserving and model.has_density and model.evaluations > 0
    assert "flow" in model.description() and "kind = 'flow'" in model.card()
    assert model.origin["step"] == 40 and model.origin["path"] == str(flow_checkpoint)
    langevin = phasegen.Model.load(str(langevin_checkpoint))
    assert langevin.kind == "langevin" and not langevin.has_density
    assert "stochastic" in langevin.density_refusal
    assert langevin.with_sampler(nfe=10).evaluations == 10


def test_every_state_of_the_path_is_exact(flow_checkpoint, langevin_checkpoint):
    for checkpoint in (flow_checkpoint, langevin_checkpoint):
        path = phasegen.Model.load(str(checkpoint)).sample_path(200, every=1, seed=3)
        states = path["states"]
        assert states.shape[1:] == (200, 3, 4) and states.shape[0] >= 3
        assert path["worst_state_violation"] < 1e-13
        worst = max(max_violation(states[k]) for k in range(states.shape[0]))
        assert worst < 1e-13


def test_density_and_weights(flow_checkpoint):
    model = phasegen.Model.load(str(flow_checkpoint))
    d = model.sample_with_density(500, seed=4)
    assert d["events"].shape == (500, 3, 4) and d["log_ratio"].shape == (500,)
    assert d["nonpositive_events"] == 0 and d["worst_violation"] < 1e-13
    w = model.weights(2000, "muon", seed=5)
    exact = math.pi**2 / 192
    assert w["exact"] == pytest.approx(exact, rel=1e-14) and w["unit"] == "GeV^5"
    assert abs(w["cross_section"] - exact) < 5 * w["error"]
    assert 0 < w["ess_fraction"] <= 1
    u = model.weights(300, "muon", seed=6, unweight=True)
    assert u["events"].shape == (300, 3, 4) and bool((u["weights"] >= 1).all())
    assert 0 < u["acceptance"] <= 1


def test_sampling_options_and_errors(flow_checkpoint, langevin_checkpoint):
    model = phasegen.Model.load(str(flow_checkpoint))
    seen = []
    model.sample(250, seed=1, batch=100, workers=1, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(100, 250), (200, 250), (250, 250)]
    with pytest.raises(phasegen.Error, match="variance= applies to langevin models"):
        model.sample(10, variance="posterior")
    with pytest.raises(phasegen.Error, match="solver"):
        model.sample(10, solver="leapfrog")
    with pytest.raises(phasegen.Error, match="nfe="):
        model.sample(10, nfe=0)
    with pytest.raises(phasegen.Error, match="seed"):
        model.sample(10, seed=-1)
    if not torch.cuda.is_available():
        with pytest.raises(phasegen.Error, match="device = cuda"):
            phasegen.Model.load(str(flow_checkpoint), device="cuda")
    langevin = phasegen.Model.load(str(langevin_checkpoint))
    with pytest.raises(phasegen.Error, match="stochastic"):
        langevin.weights(10, "muon")
    with pytest.raises(phasegen.Error, match="N = 4, but the checkpoint's model makes N = 3"):
        model.weights(10, "uniform", particles=4)
    with pytest.raises(phasegen.Error, match="no closed-form density"):
        model.weights(10, "aps")


def test_save_and_load(work, flow_checkpoint):
    model = phasegen.Model.load(str(flow_checkpoint))
    path = str(work / "saved.ckpt")
    model.save(path)
    again = phasegen.Model.load(path)
    assert torch.equal(again.sample(100, seed=2, workers=1), model.sample(100, seed=2, workers=1))


def test_train_errors(work, muon_file):
    with pytest.raises(phasegen.Error, match="no setting 'hiden'"):
        phasegen.train(settings={"hiden": 3})
    with pytest.raises(phasegen.Error, match="checkpoint"):
        phasegen.train(settings={"data": str(muon_file)})
    with pytest.raises(phasegen.Error, match="missing.pt"):
        phasegen.train(settings={"data": str(work / "missing.pt"), "checkpoint": str(work / "x.ckpt"), "steps": 2})


def test_ctrl_c_stops_sampling_and_training(work, flow_checkpoint, muon_file):
    import os
    import signal

    def interrupt_at(n):
        def progress(done, total):
            assert total >= n
            if done >= n:
                os.kill(os.getpid(), signal.SIGINT)
        return progress

    model = phasegen.Model.load(str(flow_checkpoint))
    with pytest.raises(KeyboardInterrupt):
        model.sample(100000, batch=100, workers=1, progress=interrupt_at(100))
    with pytest.raises(KeyboardInterrupt):
        phasegen.Target("muon").generate(400000, progress=interrupt_at(100000))
    path = work / "stopped.ckpt"
    from conftest import TINY_FLOW
    with pytest.raises(KeyboardInterrupt):
        phasegen.train(settings={**TINY_FLOW, "steps": 400, "data": str(muon_file), "checkpoint": str(path)},
                       progress=interrupt_at(5))
    stopped = phasegen.Model.load(str(path))  # the checkpoint of the step it stopped at
    assert 5 <= stopped.origin["step"] < 400
