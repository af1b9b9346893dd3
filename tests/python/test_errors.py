"""Bad input from Python: wrong types, shapes, dtypes and devices, NaN, missing and broken files and
bad settings raise phasegen.Error (a RuntimeError) naming the function and the problem; nothing
crashes and no file is left half-written."""

import os

import pytest
import torch

import phasegen


def q(n=5, particles=3):
    return phasegen.sample_rambo_prior(n, particles, seed=1)


@pytest.mark.parametrize("bad, message", [
    ([[0.0, 1.0, 2.0]], "rambo_map: q: expected a torch.Tensor, but got list"),
    (torch.zeros(5, 3), r"rambo_map: q: expected shape \[n, N, 3\], but got \[5, 3\]"),
    (torch.zeros(5, 3, 4, dtype=torch.float64), r"expected shape \[n, N, 3\], but got \[5, 3, 4\]"),
    (torch.zeros(5, 3, 3, dtype=torch.int64), "expected float64 \\(or float32\\), but got Long"),
    (torch.zeros(5, 3, 3, dtype=torch.float16), "expected float64 \\(or float32\\), but got Half"),
    (torch.zeros(5, 3, 3, dtype=torch.float64, device="meta"), "expected a tensor on the CPU or a CUDA device, but got one on meta"),
])
def test_bad_states(bad, message):
    with pytest.raises(phasegen.Error, match=message):
        phasegen.rambo_map(bad, 1.0)


def test_nan_and_infinity_are_named():
    states = q(5)
    states[3, 1, 2] = float("nan")
    with pytest.raises(phasegen.Error, match="rambo_map: q: expected finite values, but entry 3"):
        phasegen.rambo_map(states, 1.0)
    p = phasegen.rambo_map(q(5), 1.0)
    p[0, 0, 0] = float("inf")
    with pytest.raises(phasegen.Error, match="thrust: p: expected finite values, but entry 0"):
        phasegen.thrust(p)
    with pytest.raises(phasegen.Error, match="sqrt_s > 0"):
        phasegen.rambo_map(q(), float("nan"))


def test_devices_and_settings():
    p = phasegen.rambo_map(q(), 1.0)
    boost, scale = phasegen.fibre(q(), 1.0)
    with pytest.raises(phasegen.Error, match="rambo_inverse: scale: expected a tensor on the CPU or a CUDA device"):
        phasegen.rambo_inverse(p, boost, scale.to("meta"))
    if torch.cuda.is_available():
        with pytest.raises(phasegen.Error, match="expected tensors on one device"):
            phasegen.rambo_inverse(p, boost.cuda(), scale)
    if not torch.cuda.is_available():
        with pytest.raises(phasegen.Error, match="device = cuda"):
            phasegen.sample_rambo_prior(3, 3, device="cuda")
    with pytest.raises(phasegen.Error, match="expected a device name"):
        phasegen.sample_rambo_prior(3, 3, device=3)
    with pytest.raises(phasegen.Error, match="expected a seed >= 0"):
        phasegen.sample_rambo_prior(3, 3, seed=-2)
    with pytest.raises(phasegen.Error, match="torch.float64 or torch.float32"):
        phasegen.sample_rambo_prior(3, 3, dtype=torch.int32)
    with pytest.raises(phasegen.Error, match="fixed lift: expected a scale x > 0"):
        phasegen.lift_to_qspace(p, fixed_scale=-1.0)
    with pytest.raises(phasegen.Error, match="expected three-body events"):
        phasegen.rosenblatt(phasegen.rambo_map(q(5, 4), 1.0))
    with pytest.raises(phasegen.Error, match="target"):
        phasegen.Target("higgs")
    with pytest.raises(phasegen.Error, match="msq"):
        phasegen.Target("qqg", msq=0.5)
    with pytest.raises(phasegen.Error, match="unknown"):
        phasegen.observables(p, names=["E_9"])
    with pytest.raises(phasegen.Error, match="one weight per event"):
        phasegen.ks(torch.rand(10, dtype=torch.float64), torch.rand(5, dtype=torch.float64), weights=torch.ones(4, dtype=torch.float64))


def test_files(tmp_path):
    with pytest.raises(phasegen.Error, match="nowhere.pt"):
        phasegen.read_events(str(tmp_path / "nowhere.pt"))
    with pytest.raises(phasegen.Error, match="nowhere.ckpt"):
        phasegen.Model.load(str(tmp_path / "nowhere.ckpt"))
    broken = tmp_path / "broken.hepmc3"
    broken.write_text("HepMC::Version 3.02.05\nHepMC::Asciiv3-START_EVENT_LISTING\nE 0 1 5\nP 1 0 22 0 0 oops\n")
    with pytest.raises(phasegen.Error, match="broken.hepmc3"):
        phasegen.read_events(str(broken))
    with pytest.raises(phasegen.Error, match="extension"):
        phasegen.write_events(str(tmp_path / "events.txt"), phasegen.rambo_map(q(), 1.0))
    # Events that do not conserve momentum are refused before any file is made.
    p = phasegen.rambo_map(q(), 1.0)
    p[2, 0, 1] += 1e-3
    target = tmp_path / "bad.hepmc3"
    with pytest.raises(phasegen.Error, match="write_events: events"):
        phasegen.write_events(str(target), p)
    assert not target.exists() and os.listdir(tmp_path) == ["broken.hepmc3"]
    with pytest.raises(phasegen.Error, match="unknown key 'sede'"):
        phasegen.write_events(str(tmp_path / "a.pt"), phasegen.rambo_map(q(), 1.0), run={"sede": 1})
    with pytest.raises(phasegen.Error, match="cannot|directory|No such"):
        phasegen.write_events(str(tmp_path / "no" / "such" / "dir.pt"), phasegen.rambo_map(q(), 1.0))


def test_one_exception_class():
    assert issubclass(phasegen.Error, RuntimeError)
    try:
        phasegen.phase_space_volume(1, 1.0)
    except phasegen.Error as e:
        assert "phase_space_volume: expected N >= 2" in str(e)
    else:
        raise AssertionError("no error for N = 1")
