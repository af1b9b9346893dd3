"""The paper's tensor layout, the quickstart example as a user runs it, the distances beside their
floors, and the installed package (cmake --install) importable outside the build tree."""

import os
import subprocess
import sys

import pytest
import torch

import phasegen
from conftest import max_violation

SOURCE = os.environ.get("PHASEGEN_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def test_paper_layout_round_trip():
    p = phasegen.targets.muon(1000, seed=2, sqrt_s=105.66)
    x = phasegen.to_paper(p)
    assert x.shape == (1000, 3, 3) and x.dtype == torch.float32
    assert float((x.norm(dim=-1).sum(1) - 1).abs().max()) < 1e-6
    back = phasegen.from_paper(x, sqrt_s=105.66)
    assert back.dtype == torch.float64 and max_violation(back) < 1e-14
    assert float((back - p).abs().max()) < 1e-5 * 105.66
    loose = phasegen.from_paper(x, sqrt_s=105.66, exact=False)
    assert 1e-12 < max_violation(loose) < 1e-5
    with pytest.raises(phasegen.Error, match=r"from_paper: expected the paper's \[n, N, 3\]"):
        phasegen.from_paper(p)


def test_compare_beside_the_floor():
    truth = phasegen.targets.muon(8000, seed=3)
    same = phasegen.targets.muon(2000, seed=4)
    flat = phasegen.sample_uniform_phase_space(2000, 3, 1.0, seed=5)
    good = phasegen.compare(truth, same)
    bad = phasegen.compare(truth, flat)
    assert set(good) == set(phasegen.observable_names(3))
    ratios = [row["model"]["ks"] / row["floor"]["ks"] for row in good.values()]
    assert max(ratios) < 4, ratios
    assert bad["E_3"]["model"]["ks"] > 5 * bad["E_3"]["floor"]["ks"]
    assert "E_1" in phasegen.format_comparison(good)


def test_quickstart_runs_as_documented(tmp_path):
    env = dict(os.environ, PHASEGEN_QUICKSTART_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, os.path.join(SOURCE, "examples", "python", "quickstart.py")],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for line in ["muon data", "lifted", "perturbed", "trained", "sampled", "KS"]:
        assert line in out, out
    assert "FAIL" not in out, out


def test_installed_package_imports(tmp_path):
    build = os.environ.get("PHASEGEN_BUILD_DIR")
    if not build:
        pytest.skip("PHASEGEN_BUILD_DIR is not set: run the tests through ctest")
    prefix = tmp_path / "prefix"
    subprocess.run(["cmake", "--install", build, "--component", "python", "--prefix", str(prefix)], check=True,
                   capture_output=True)
    found = [os.path.join(root) for root, dirs, files in os.walk(prefix) if "__init__.py" in files]
    assert len(found) == 1 and found[0].endswith("phasegen"), found
    site = os.path.dirname(found[0])
    env = dict(os.environ, PYTHONPATH=site)
    code = "import phasegen; print(phasegen.__file__); print(phasegen.phase_space_volume(3))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(site) and "1.2337" in result.stdout
