"""Shared fixtures of phasegen's Python tests: the command-line tool beside the module, tiny data sets
and tiny trained models (seconds to train), made once per test file."""

import os
import subprocess

import phasegen  # first: it selects the command line's CPU kernels before torch runs any

import pytest
import torch


def cli_path():
    path = os.environ.get("PHASEGEN")
    if not path:
        pytest.skip("PHASEGEN (the command-line tool) is not set: run the tests through ctest")
    return path


def run_cli(*args, cwd=None):
    """Runs the command-line tool; returns its stdout; fails the test with its stderr otherwise."""
    result = subprocess.run([cli_path(), *map(str, args)], capture_output=True, text=True, cwd=cwd)
    assert result.returncode == 0, "phasegen " + " ".join(map(str, args)) + ": " + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("phasegen")


@pytest.fixture(scope="module")
def muon_file(work):
    path = work / "muon.pt"
    events = phasegen.targets.muon(3000, seed=5)
    phasegen.write_events(str(path), events, run={"description": "muon decay, seed 5", "seed": 5})
    return path


TINY_FLOW = {
    "kind": "flow",
    "network": "mlp",
    "hidden": 16,
    "layers": 2,
    "time_embedding": 8,
    "nfe": 8,
    "prior": "rambo",
    "lift": "random",
    "batch": 128,
    "steps": 40,
    "lr": 3e-3,
    "validate_every": 20,
    "checkpoint_every": 20,
    "seed": 4,
    "workers": 1,
}


@pytest.fixture(scope="module")
def flow_checkpoint(work, muon_file):
    """A tiny flow-matching model of muon decay (exact densities), trained from Python."""
    path = work / "flow.ckpt"
    phasegen.train(settings={**TINY_FLOW, "data": str(muon_file), "checkpoint": str(path)})
    return path


@pytest.fixture(scope="module")
def langevin_checkpoint(work, muon_file):
    """A tiny model of the paper's Langevin kind (no density), trained by the command line."""
    path = work / "langevin.ckpt"
    card = work / "langevin.toml"
    card.write_text(
        '[model]\nkind = "langevin"\nnetwork = "mlp"\nhidden = 16\nlayers = 2\ntime_embedding = 8\n'
        'divergence = "hutchinson"\nnfe = 40\n[train]\ndata = "%s"\nbatch = 64\nsteps = 5\ncheckpoint = "%s"\n'
        % (muon_file, path))
    run_cli("train", "--card", card, "--workers", "1")
    return path


def max_violation(events):
    return float(phasegen.conservation_violation(events).max().item())


torch.manual_seed(0)
