"""Targets and event files from Python: the same events as the command line's `data`, exact truths
(the muon Rosenblatt variables uniform, integrals), and every format written and read back with its
run information and weights."""

import math

import pytest
import torch

import phasegen
from conftest import max_violation, run_cli


def test_targets_are_the_command_lines(work):
    for target, flags, events in [
        ("muon", [], phasegen.targets.muon(2000, seed=7)),
        ("qqg", ["--msq", "1e-3"], phasegen.targets.qqg(2000, msq=1e-3, seed=7)),
        ("aps", ["-n", "6", "--xi-max", "20"], phasegen.targets.aps(2000, particles=6, xi_max=20, seed=7)),
    ]:
        path = work / (target + "-cli.pt")
        run_cli("data", "--target", target, *flags, "--events", 2000, "--seed", 7, "--out", path)
        assert torch.equal(phasegen.read_events(str(path)).momenta, events), target
        assert max_violation(events) < 1e-13


def test_uniform_phase_space_is_the_command_lines(work):
    path = work / "flat-cli.pt"
    run_cli("phasespace", "-n", 4, "--events", 3000, "--sqrt-s", 91.2, "--seed", 3, "--batch", 3000, "--out", path)
    assert torch.equal(phasegen.read_events(str(path)).momenta, phasegen.sample_uniform_phase_space(3000, 4, 91.2, seed=3))


def test_muon_truth_and_integrals():
    target = phasegen.Target("muon")
    p, stats = target.generate(20000, seed=3)
    assert stats["accepted"] >= 20000 and 0 < stats["efficiency"] <= 1
    u = phasegen.rosenblatt(p)
    for k in range(2):
        stat, pvalue = phasegen.ks_test(u[:, k], lambda x: x)
        assert pvalue > 1e-3, (k, stat, pvalue)
    assert abs(target.integral() - math.pi**2 / 192) < 1e-15
    assert abs(stats["integral"] - target.integral()) < 5 * stats["integral_error"]
    assert target.density_unit == "GeV^3" and target.integral_unit == "GeV^5"
    qqg = phasegen.Target("qqg", msq=1e-2)
    assert qqg.pdg_ids == [1, -1, 21] and qqg.particles == 3
    flat = phasegen.sample_uniform_phase_space(50000, 3, 1.0, seed=4)
    f = qqg.density(flat)
    estimate = phasegen.phase_space_volume(3) * f.mean().item()
    error = phasegen.phase_space_volume(3) * f.std().item() / math.sqrt(len(f))
    assert abs(estimate - qqg.integral()) < 5 * error
    with pytest.raises(phasegen.Error, match="no closed-form density"):
        phasegen.Target("aps", particles=5).density(phasegen.sample_uniform_phase_space(3, 5, 1.0))


@pytest.mark.parametrize("suffix", ["pt", "hepmc3", "lhe"])
def test_write_and_read_back(work, suffix):
    p = phasegen.targets.qqg(500, msq=1e-2, seed=2, sqrt_s=91.2)
    path = str(work / ("qqg." + suffix))
    run = {"description": "q qbar g at the Z", "seed": 2, "attributes": {"msq": "1e-2", "source": "python test"}}
    assert phasegen.write_events(path, p, pdg_ids=[1, -1, 21], run=run) == 500
    back = phasegen.read_events(path)
    assert len(back) == 500 and back.sqrt_s == pytest.approx(91.2, rel=1e-12)
    assert (back.momenta - p).abs().max() < 1e-9 * 91.2
    if suffix != "pt":  # .pt files hold the momenta and the run record, not particle ids
        assert back.pdg_ids == [1, -1, 21]
    assert back.run["description"] == "q qbar g at the Z"
    assert back.run["seed"] == 2
    assert back.run["attributes"]["source"] == "python test"
    assert back.run["version"] == phasegen.__version__
    assert back.weights is None and back.weight_info is None


@pytest.mark.parametrize("suffix", ["pt", "hepmc3", "lhe"])
def test_weighted_files(work, suffix):
    p = phasegen.sample_uniform_phase_space(300, 3, 1.0, seed=5)
    w = phasegen.Target("qqg", msq=1e-2).density(p) * phasegen.phase_space_volume(3)
    keep = w > 0
    path = str(work / ("weighted." + suffix))
    phasegen.write_events(path, p[keep], weights=w[keep], weight_info={"name": "qqg", "unit": ""})
    back = phasegen.read_events(path)
    assert back.weight_info["mode"] == "weighted"
    assert torch.allclose(back.weights, w[keep], rtol=1e-9)
    assert back.weight_info["cross_section"] == pytest.approx(w[keep].mean().item(), rel=1e-6)


def test_pt_files_open_in_torch(work):
    p = phasegen.targets.muon(10, seed=1)
    path = str(work / "plain.pt")
    phasegen.write_events(path, p)
    assert torch.equal(torch.load(path), p)
