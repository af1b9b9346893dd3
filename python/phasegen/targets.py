"""The paper's data sets, generated exactly (the same events as `phasegen data` for a seed).

    import phasegen
    p = phasegen.targets.muon(100000, seed=1)            # [100000, 3, 4], (e-, nu_mu, nubar_e)
    p = phasegen.targets.qqg(100000, msq=1e-3, seed=1)   # e+e- -> q qbar g, every s_ij/s >= 1e-3
    p = phasegen.targets.aps(100000, particles=10, xi_max=30, seed=1)

Each function returns the events; phasegen.Target gives the statistics of the generation, the
target's density relative to flat phase space and its exact integral.
"""

from ._core import Target


def _events(target, events, seed, progress):
    p, _ = target.generate(events, seed=seed, progress=progress)
    return p


def uniform(events, particles=3, seed=1, sqrt_s=1.0, progress=None):
    """Flat massless phase space of `particles` particles: [events, particles, 4] float64."""
    return _events(Target("uniform", sqrt_s=sqrt_s, particles=particles), events, seed, progress)


def muon(events, seed=1, sqrt_s=1.0, progress=None):
    """Muon decay mu- -> e- nu_mu nubar_e (massless, weight E3 (p1.p2)): [events, 3, 4] float64."""
    return _events(Target("muon", sqrt_s=sqrt_s), events, seed, progress)


def qqg(events, msq=1e-3, seed=1, sqrt_s=1.0, symmetrize=False, progress=None):
    """e+e- -> q qbar g at leading order with every s_ij/s >= msq: [events, 3, 4] float64 (q, qbar, g)."""
    return _events(Target("qqg", sqrt_s=sqrt_s, msq=msq, symmetrize=symmetrize), events, seed, progress)


def aps(events, particles=10, xi_max=30.0, seed=1, sqrt_s=1.0, shuffle=True, progress=None):
    """The many-particle antenna (APS) events: [events, particles, 4] float64."""
    return _events(Target("aps", sqrt_s=sqrt_s, particles=particles, xi_max=xi_max, shuffle=shuffle), events, seed,
                   progress)


__all__ = ["Target", "uniform", "muon", "qqg", "aps"]
