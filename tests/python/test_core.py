"""The exact core from Python: conservation of the map on every input, the lift's round trip, the
prior's law, the bijection and its log-Jacobian, and gradcheck through map, lift and bijection."""

import math

import pytest
import torch

import phasegen
from conftest import max_violation


def test_rambo_map_of_the_prior_is_exact_and_flat():
    q = phasegen.sample_rambo_prior(20000, 4, seed=3)
    assert q.shape == (20000, 4, 3) and q.dtype == torch.float64
    p = phasegen.rambo_map(q, 91.2)
    assert max_violation(p) < 1e-14
    assert float(phasegen.mass_violation(p).max()) < 1e-14
    # Under flat phase space x = 2E/sqrt_s of one particle follows Beta(2, N - 2): Beta(2, 2) for N = 4.
    x = 2 * p[:, 0, 0] / 91.2
    stat, pvalue = phasegen.ks_test(x, lambda t: 3 * t**2 - 2 * t**3)
    assert pvalue > 1e-3, (stat, pvalue)


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_rambo_map_of_perturbed_states_conserves(scale):
    # Any state at all maps onto phase space exactly: noise of any size, far from the prior.
    q = phasegen.sample_rambo_prior(1000, 6, seed=4) * scale + torch.randn(1000, 6, 3, dtype=torch.float64) * scale
    assert max_violation(phasegen.rambo_map(q, 2.0)) < 1e-13


def test_lift_round_trips_random_and_fixed():
    p = phasegen.sample_uniform_phase_space(5000, 5, 3.0, seed=8)
    q = phasegen.lift_to_qspace(p, seed=9)
    assert (phasegen.rambo_map(q, 3.0) - p).abs().max() < 1e-13
    qf = phasegen.lift_to_qspace(p, fixed_scale=0.15)
    assert torch.allclose(qf, p[..., 1:] / (0.15 * 3.0), rtol=1e-14, atol=0)  # per-event sqrt_s: its sum of energies
    assert (phasegen.rambo_map(qf, 3.0) - p).abs().max() < 1e-13
    # Fixed seed, fixed lift.
    assert torch.equal(phasegen.lift_to_qspace(p, seed=9), q)


def test_lift_of_flat_events_follows_the_prior():
    # Lifted flat events follow p_ref exactly: |q_i| ~ Gamma(2, 1), CDF 1 - (1 + x) e^-x.
    p = phasegen.sample_uniform_phase_space(20000, 3, 1.0, seed=10)
    r = phasegen.lift_to_qspace(p, seed=11)[:, 1].norm(dim=-1)
    stat, pvalue = phasegen.ks_test(r, lambda x: 1 - (1 + x) * torch.exp(-x))
    assert pvalue > 1e-3, (stat, pvalue)


def test_fibre_and_inverse():
    q = phasegen.sample_rambo_prior(100, 3, seed=12)
    boost, scale = phasegen.fibre(q, 1.0)
    assert boost.shape == (100, 3) and scale.shape == (100,)
    back = phasegen.rambo_inverse(phasegen.rambo_map(q, 1.0), boost, scale)
    assert (back - q).abs().max() / q.abs().max() < 1e-13
    b, x = phasegen.sample_fibre(100, 3, sqrt_s=1.0, seed=13)
    assert b.shape == (100, 3) and bool((x > 0).all())


def test_prior_density_and_score():
    q = phasegen.sample_rambo_prior(50, 3, seed=14).requires_grad_()
    logp = phasegen.rambo_prior_log_density(q)
    r = q.norm(dim=-1)
    assert torch.allclose(logp, (-r - torch.log(4 * math.pi * r)).sum(1), atol=1e-13)
    (grad,) = torch.autograd.grad(logp.sum(), q)
    assert torch.allclose(phasegen.rambo_prior_score(q.detach()), grad, atol=1e-12)
    reg = phasegen.rambo_prior_score_regularised(q.detach(), eps=0.2)
    assert reg.shape == q.shape and bool(reg.isfinite().all())


def test_gaussian_bijection_is_the_prior_both_ways():
    z = torch.randn(20000, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    q = phasegen.gaussian_to_qspace(z)
    stat, pvalue = phasegen.ks_test(q[:, 0].norm(dim=-1), lambda x: 1 - (1 + x) * torch.exp(-x))
    assert pvalue > 1e-3, (stat, pvalue)
    assert (phasegen.qspace_to_gaussian(q) - z).abs().max() < 1e-11


def test_log_jacobian_equals_the_determinant():
    z = torch.randn(4, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    logj = phasegen.gaussian_to_qspace_log_jacobian(z)
    for k in range(4):
        jac = torch.autograd.functional.jacobian(lambda v: phasegen.gaussian_to_qspace(v.view(1, 3, 3)).view(9),
                                                 z[k].reshape(9))
        assert abs(torch.linalg.slogdet(jac).logabsdet.item() - logj[k].item()) < 1e-9
    q = phasegen.gaussian_to_qspace(z)
    assert torch.allclose(phasegen.qspace_to_gaussian_log_jacobian(q), -logj, atol=1e-10)


def test_gradcheck_map_lift_bijection():
    q = (phasegen.sample_rambo_prior(3, 3, seed=15)).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: phasegen.rambo_map(v, 1.0), (q,), eps=1e-6, atol=1e-7)
    p = phasegen.rambo_map(q.detach(), 1.0).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: phasegen.lift_to_qspace(v, seed=3), (p,), eps=1e-7, atol=1e-6)
    assert torch.autograd.gradcheck(lambda v: phasegen.lift_to_qspace(v, fixed_scale=0.15), (p,), eps=1e-7, atol=1e-6)
    z = torch.randn(3, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3)).requires_grad_()
    assert torch.autograd.gradcheck(phasegen.gaussian_to_qspace, (z,), eps=1e-6, atol=1e-6)
    qq = q.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(phasegen.qspace_to_gaussian, (qq,), eps=1e-6, atol=1e-6)


def test_a_network_trains_through_the_map():
    # A user's own model: a learnable shift of q-space, trained through rambo_map towards a target energy.
    shift = torch.zeros(3, 3, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([shift], lr=0.05)
    q = phasegen.sample_rambo_prior(256, 3, seed=16)
    for _ in range(60):
        p = phasegen.rambo_map(q + shift, 1.0)
        loss = (p[:, 0, 0] - 0.45).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert max_violation(p.detach()) < 1e-14  # every intermediate step an exact event
    assert loss.item() < 0.01


def test_volume():
    assert abs(phasegen.phase_space_volume(3, 1.0) - math.pi**2 / 8) < 1e-14
    assert abs(phasegen.log_phase_space_volume(10, 2.0) - math.log(phasegen.phase_space_volume(10, 2.0))) < 1e-12
    y, x = phasegen.state_invariants(phasegen.sample_rambo_prior(10, 4, seed=17))
    assert y.shape == (10, 4, 4) and x.shape == (10, 4)
    assert torch.allclose(x.sum(1), torch.full((10,), 2.0, dtype=torch.float64), atol=1e-13)


def test_float32_and_cuda_devices():
    q = phasegen.sample_rambo_prior(100, 3, seed=18, dtype=torch.float32)
    assert q.dtype == torch.float32
    assert max_violation(phasegen.rambo_map(q, 1.0).double()) < 1e-5
    if torch.cuda.is_available():
        qc = phasegen.sample_rambo_prior(100, 3, seed=18, device="cuda")
        assert qc.is_cuda and max_violation(phasegen.rambo_map(qc, 1.0)) < 1e-14


def test_values_with_a_graph_are_the_exact_values():
    # Where autograd records a graph the maps return the exact (light-cone, in-place) values bit for bit.
    q = phasegen.sample_rambo_prior(500, 5, seed=19)
    p = phasegen.rambo_map(q, 2.0)
    assert torch.equal(phasegen.rambo_map(q.clone().requires_grad_(), 2.0).detach(), p)
    boost, scale = phasegen.fibre(q, 2.0)
    b2, x2 = phasegen.fibre(q.clone().requires_grad_(), 2.0)
    assert torch.equal(b2.detach(), boost) and torch.equal(x2.detach(), scale)
    assert torch.equal(phasegen.lift_to_qspace(p.clone().requires_grad_(), seed=3).detach(),
                       phasegen.lift_to_qspace(p, seed=3))
    z = torch.randn(100, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    assert torch.equal(phasegen.gaussian_to_qspace(z.clone().requires_grad_()).detach(), phasegen.gaussian_to_qspace(z))
