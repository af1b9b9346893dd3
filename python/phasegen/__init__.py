"""phasegen: generative models confined exactly to the phase space of N massless particles.

The exact phase-space layer for PyTorch code: the RAMBO map from free 3-vectors ("q-space") onto
massless phase space, its fibre and the exact lift of events back to q-space, the Gaussian
bijection onto the RAMBO prior, observables and distances with their truth-vs-truth floors, the
paper's data sets, event files (.pt, HepMC3, LHE) and trained phasegen models. Every function takes
and returns torch.Tensor; events are [n, N, 4] (E, px, py, pz) in the centre-of-momentum frame,
states [n, N, 3]; use float64 for the maps (autograd flows through rambo_map, the lift and the
bijection). Every error is a phasegen.Error carrying the library's message.

    import phasegen
    q = phasegen.sample_rambo_prior(1000, 5, seed=1)        # [1000, 5, 3]
    p = phasegen.rambo_map(q, 91.2)                           # uniform on 5-body phase space
    q2 = phasegen.lift_to_qspace(p, seed=2)                   # rambo_map(q2, 91.2) == p to round-off

The same C++ library as the command-line tool: for the same seed and settings a sampled model's
events, a target's events and a lifted set are bit-identical to the CLI's on the same machine.
"""

import sys as _sys
import warnings as _warnings

_torch_was_imported = "torch" in _sys.modules
# The extension comes first: it selects the command line's CPU kernels before LibTorch runs any.
from . import _core  # noqa: E402
import torch  # noqa: E402,F401

from ._core import (  # noqa: E402,F401
    Error,
    EventSet,
    Model,
    Target,
    __version__,
    c_parameter,
    chi2,
    commit,
    conservation_violation,
    cpu_kernels,
    dalitz_energies,
    distances,
    effective_size,
    energies,
    fibre,
    gaussian_to_qspace,
    gaussian_to_qspace_log_jacobian,
    ks,
    ks_test,
    lift_to_qspace,
    log10_tau,
    log_invariant_features,
    log_phase_space_volume,
    massless_momenta,
    mass_violation,
    observable_names,
    observables,
    pair_cosines,
    pair_dots,
    pair_invariants,
    phase_space_volume,
    qspace_to_gaussian,
    qspace_to_gaussian_log_jacobian,
    rambo_inverse,
    rambo_map,
    rambo_prior_log_density,
    rambo_prior_score,
    rambo_prior_score_regularised,
    read_events,
    read_trajectory,
    rosenblatt,
    sample_fibre,
    sample_rambo_prior,
    sample_uniform_phase_space,
    sorted_energies,
    state_invariants,
    table_one_violation,
    tau,
    thrust,
    train,
    truth_floor,
    wasserstein1,
    write_events,
)
from . import targets  # noqa: E402,F401
from .compare import compare, format_comparison  # noqa: E402,F401
from .paper import from_paper, to_paper  # noqa: E402,F401

if _torch_was_imported and _core.selected_avx512:
    _warnings.warn(
        "phasegen: torch was imported before phasegen, which selects LibTorch's AVX-512 kernels as the command line "
        "does; if torch ran any CPU kernel before, they were chosen already, and results agree with the command "
        "line's to round-off, not bit for bit. Import phasegen first, or set ATEN_CPU_CAPABILITY=avx512 before "
        "starting Python, for its numbers exactly.",
        stacklevel=2,
    )
